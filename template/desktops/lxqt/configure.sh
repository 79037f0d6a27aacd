# LXQt's own fixes. Runs inside the template's root filesystem after
# template/configure.sh (same environment), for `--desktop lxqt` only.
set -eu

# Debian's session.conf names no window manager, so lxqt-session opens a
# "choose your window manager" dialog at every first login. Name openbox in a
# system-wide copy (LXQt takes the first session.conf along XDG_CONFIG_DIRS,
# whole: it must keep the rest of Debian's file).
mkdir -p /etc/xdg/lxqt
sed 's/^\[General\]$/[General]\nwindow_manager=openbox/' /usr/share/lxqt/session.conf > /etc/xdg/lxqt/session.conf
grep -q '^window_manager=openbox$' /etc/xdg/lxqt/session.conf

# No screensaver is installed; LXQt's autostart entry for one goes too.
rm -f /etc/xdg/autostart/lxqt-xscreensaver-autostart.desktop

# The time left in the panel: a "customcommand" plugin (lxqt-panel's own) that
# runs winux-timeleft every second, just before the clock. Same way as
# session.conf: lxqt-panel reads panel.conf along XDG_CONFIG_DIRS (startlxqt:
# /etc:/etc/xdg:/usr/share), so a copy of Debian's in /etc/xdg/lxqt with our
# plugin added comes before /usr/share/lxqt/panel.conf. runWithBash=false: the
# program is run directly, not through `bash -c`.
sed 's/^plugins=\(.*\),worldclock,/plugins=\1,timeleft,worldclock,/' /usr/share/lxqt/panel.conf > /etc/xdg/lxqt/panel.conf
cat >> /etc/xdg/lxqt/panel.conf <<'CONF'

[timeleft]
type=customcommand
command=/usr/local/bin/winux-timeleft
runWithBash=false
repeat=true
repeatTimer=1
CONF
grep -q '^plugins=.*,timeleft,worldclock,' /etc/xdg/lxqt/panel.conf
grep -q '^type=customcommand$' /etc/xdg/lxqt/panel.conf
dpkg -L lxqt-panel | grep -q '/lxqt-panel/libcustomcommand\.so$'
[ -f /usr/share/lxqt/lxqt-panel/customcommand.desktop ]
[ -x /usr/local/bin/winux-timeleft ]
