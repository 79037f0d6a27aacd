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
