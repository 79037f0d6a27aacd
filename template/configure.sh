# Runs inside the template's root filesystem (chroot) after the packages are
# installed and template/files/ (then desktops/<name>/files/) copied over it,
# before desktops/<name>/configure.sh. Each block fixes one known problem of a
# stock desktop + xrdp install in a container; what concerns one desktop only
# lives in its own desktops/<name>/configure.sh.
set -eu
user=${WINUX_DESKTOP_USER:-winux}

# Locales: French and English, French by default (Winux's first users are French schools).
sed -i -e 's/^# *\(fr_FR.UTF-8 UTF-8\)/\1/' -e 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen
locale-gen
printf 'LANG=fr_FR.UTF-8\nLANGUAGE=fr_FR:fr:en_US:en\n' > /etc/default/locale
# Keyboard: French and US layouts offered; xrdp also maps the RDP client's layout.
cat > /etc/default/keyboard <<'KBD'
XKBMODEL="pc105"
XKBLAYOUT="fr,us"
XKBVARIANT=""
XKBOPTIONS="grp:alt_shift_toggle"
BACKSPACE="guess"
KBD

# xrdp must be able to read its TLS key, otherwise it falls back to RDP
# security and FreeRDP clients fail with "MAC checksum error".
adduser xrdp ssl-cert

# No TLS key is baked into the template: every clone generates its own
# (winux-session-init). Remove the snakeoil pair ssl-cert generated at install.
rm -f /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem /etc/xrdp/key.pem /etc/xrdp/cert.pem /etc/xrdp/rsakeys.ini
# No keys for the old RDP security layer either, in the template or in a session:
# xrdp reads rsakeys.ini only for that layer, which security_layer=tls (below)
# refuses, but will not start unless the file exists. An empty one it is: making
# real keys in every session cost 0.28 s of CPU at each cold start, for keys
# nothing used (test/providers/lxc: a client offering only that layer is refused).
printf '%s\n' '; Winux: no keys. Read only for the RDP security layer, which xrdp.ini refuses (TLS only).' > /etc/xrdp/rsakeys.ini
chown xrdp:root /etc/xrdp/rsakeys.ini
chmod 0600 /etc/xrdp/rsakeys.ini

# No root login over RDP.
sed -i 's/^AllowRootLogin=.*/AllowRootLogin=false/' /etc/xrdp/sesman.ini
grep -q '^AllowRootLogin=false' /etc/xrdp/sesman.ini
# TLS only, modern protocols.
sed -i -e 's/^security_layer=.*/security_layer=tls/' -e 's/^ssl_protocols=.*/ssl_protocols=TLSv1.2, TLSv1.3/' /etc/xrdp/xrdp.ini

# One session type: the desktop that already runs (winux-desktop: Xvnc). xrdp
# first has sesman check the login with PAM ("same": the user name and password
# the client gave; the whole password, root refused by AllowRootLogin), then
# connects to Xvnc on the container's loopback with that password (VNC
# authentication alone would look at its first 8 characters only), and to the
# desktop's chansrv (clipboard). Debian's [Xorg], [Xvnc]
# (sesman-started) and [neutrinordp-any] entries are removed: unused doors.
ini=/etc/xrdp/xrdp.ini
grep -q '^\[Xorg\]' "$ini"
sed -i '/^\[Xorg\]/,$d' "$ini"
cat >> "$ini" <<'INI'
[Winux]
name=Winux
lib=libvnc.so
username=ask
password=ask
ip=127.0.0.1
port=5900
pamusername=same
pampassword=same
pamsessionmng=127.0.0.1
chansrvport=DISPLAY(10)
INI
grep -q '^\[Winux\]' "$ini" && ! grep -qE '^\[(Xorg|Xvnc|neutrinordp-any)\]' "$ini"

# xrdp starts only once winux-session-init has set the session's password and
# TLS key, so nobody can reach a login prompt before that.
systemctl disable xrdp.service xrdp-sesman.service >/dev/null 2>&1 || true

# No screen lock: no locker is installed (recommends are off); make sure none
# sneaks in later through an upgrade.
for p in light-locker xfce4-screensaver xscreensaver gnome-screensaver mate-screensaver; do
  if dpkg -s "$p" >/dev/null 2>&1; then apt-get purge -y "$p"; fi
done
rm -f /etc/xdg/autostart/xscreensaver.desktop /etc/xdg/autostart/light-locker.desktop
printf 'Package: light-locker xfce4-screensaver xscreensaver xfce4-power-manager mate-screensaver mate-power-manager lxqt-powermanagement\nPin: release *\nPin-Priority: -1\n' > /etc/apt/preferences.d/winux-no-locker

# Fast boot: a container needs none of these.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
    dpkg-db-backup.timer man-db.timer systemd-timesyncd.service getty@tty1.service console-getty.service \
    systemd-networkd-wait-online.service systemd-pstore.service systemd-journal-flush.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount \
    dev-mqueue.mount systemd-sysusers.service systemd-hwdb-update.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-modules-load.service systemd-remount-fs.service \
    modprobe@.service systemd-sysctl.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done

# No generators either: they turn fstab, crypttab, GPT partitions, kernel
# options and SysV scripts into units, and a container has none of those
# (its mounts come from LXC; every service here has a native unit). Run at
# every boot, they cost 0.2 s of it (measured: 208 ms → 16 ms).
mkdir -p /etc/systemd/system-generators
for g in /lib/systemd/system-generators/*; do
  ln -sf /dev/null "/etc/systemd/system-generators/$(basename "$g")"
done

systemctl set-default multi-user.target >/dev/null

# The desktop user (locked until winux-session-init sets the session password).
if ! id "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --user-group "$user"
fi
passwd -l "$user" >/dev/null
# Its desktop starts at boot (see winux-desktop@.service): XFCE comes up while
# winux-session-init makes the session's keys.
systemctl enable "winux-desktop@$user.service" >/dev/null 2>&1
test -L "/etc/systemd/system/multi-user.target.wants/winux-desktop@$user.service"

# Every clone must get its own machine id (systemd makes one at first boot).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -sf /etc/machine-id /var/lib/dbus/machine-id
