# The desktop user's first login, once, while the template is built, so that
# every session's desktop starts like a returning user's. Runs inside the
# template's root filesystem after the configure scripts (same environment).
#
# Why: a desktop's very first start writes its settings. XFCE's xfwm4 copies
# every default of its own into its channel, the keyboard shortcuts are copied
# from their defaults to the user's own, the panel migrates its default layout,
# xfdesktop writes its per-monitor backdrop: a few hundred xfconf writes, each
# one a change that the running XFCE processes all react to. Measured in a cold
# session: xfwm4 used 0.70 s of CPU instead of 0.17 s, Xvnc 0.58 instead of 0.33,
# xfconfd 0.21 instead of 0.08, on the 2 cores the desktop's first paint waits for.
#
# What is kept is what the desktop names (WINUX_DESKTOP_FIRST_LOGIN_KEEP in
# /etc/winux/desktop.conf, paths under the home), in the desktop user's home
# only: the settings hold paths of that home (the panel's directory menu), and
# sessions log in as that user (the recipe hash covers WINUX_DESKTOP_USER).
# Everything else the login left (caches, sockets, the session bus's files) goes.
# A desktop that names nothing skips this.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
user=${WINUX_DESKTOP_USER:?}
WINUX_DESKTOP_FIRST_LOGIN_KEEP=""
WINUX_DESKTOP_READY=""
[ -r /etc/winux/desktop.conf ] && . /etc/winux/desktop.conf
[ -n "$WINUX_DESKTOP_FIRST_LOGIN_KEEP" ] || exit 0
echo "::step first-login"

home=$(getent passwd "$user" | cut -d: -f6)
before=$(ls -A "$home")
# The build runs as the host's root, so the user's uid here is the host's too,
# maybe a real person's there, who could then signal or trace the login. For the
# login the user takes an id of root's subordinate range (ensureSubIds), which no
# host user has; its own ids come back, with its files, at the end.
uid=$(id -u "$user")
gid=$(id -g "$user")
usermod -u 101000 "$user" && groupmod -g 101000 "$user"
run=/tmp/winux-first-login
rm -rf "$run"
install -d -o "$user" -g "$user" -m 0700 "$run"
install -d -m 1777 /tmp/.X11-unix
# The session bus wants a machine id; the template must not keep one (configure.sh).
dbus-uuidgen > /etc/machine-id

# The login's processes: the user's, in this PID namespace (build.sh gives the
# login one of its own).
ours="-u $user"
as_user() {
  runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash \
    PATH=/usr/local/bin:/usr/bin:/bin DISPLAY=:99 XAUTHORITY="$run/Xauthority" XDG_RUNTIME_DIR="$run" \
    LANG=fr_FR.UTF-8 LANGUAGE=fr_FR:fr:en_US:en "$@"
}
# No listener but the chroot's own X socket file: no VNC port (-rfbport -1), no
# X over TCP or in the host's abstract socket namespace (-nolisten local).
as_user sh -c ': > "$XAUTHORITY" && xauth -q add :99 . "$(mcookie)"'
as_user Xtigervnc :99 -auth "$run/Xauthority" -nolisten tcp -nolisten local -rfbport -1 \
  -SecurityTypes None -geometry 1280x800 -depth 24 -desktop Winux > "$run/xvnc.log" 2>&1 &
xvnc=$!
fail() {
  echo "first-login.sh: $1" >&2
  tail -n 20 "$run/xvnc.log" "$run/session.log" >&2 2>/dev/null || true
  exit 1
}
i=0
until as_user xset q > /dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 200 ] || fail "Xvnc did not start"
  sleep 0.05
done

as_user setsid dbus-launch --exit-with-session /etc/xrdp/startwm.sh > "$run/session.log" 2>&1 &
session=$!
drawn() {
  for process in $WINUX_DESKTOP_READY; do
    pgrep $ours -x "$process" > /dev/null || return 1
  done
}
i=0
until drawn; do
  i=$((i + 1))
  [ "$i" -lt 1200 ] || fail "the desktop did not start within 60 s"
  sleep 0.05
done
# Its first-start writes come in the first seconds after it is drawn.
sleep 8

# The session ends; the settings daemon (D-Bus-activated, outside the session's
# process group) writes its files when it is told to stop.
kill -TERM "-$session" 2> /dev/null || true
pkill -TERM $ours -x xfconfd 2> /dev/null || true
i=0
while pgrep $ours -x xfconfd > /dev/null; do
  i=$((i + 1))
  [ "$i" -lt 200 ] || fail "xfconfd did not stop"
  sleep 0.05
done
pkill -TERM $ours 2> /dev/null || true
sleep 1
pkill -KILL $ours 2> /dev/null || true
wait "$xvnc" 2> /dev/null || true
i=0
while pgrep $ours > /dev/null; do
  i=$((i + 1))
  [ "$i" -lt 100 ] || fail "the login's processes did not end"
  sleep 0.05
done

# What the desktop keeps stays where the login put it (owners and modes as they
# are); every other path it made goes, deepest first.
find "$home" -mindepth 1 -depth | while IFS= read -r file; do
  rel=${file#"$home"/}
  printf '%s\n' "$before" | grep -qxF -- "$rel" && continue
  kept=no
  for p in $WINUX_DESKTOP_FIRST_LOGIN_KEEP; do
    case "$rel" in "$p" | "$p"/*) kept=yes ;; esac
    case "$p" in "$rel"/*) kept=yes ;; esac
  done
  [ "$kept" = yes ] || rm -rf "$file"
done
rm -rf "$run" /tmp/.X11-unix
: > /etc/machine-id
groupmod -g "$gid" "$user" && usermod -u "$uid" -g "$gid" "$user"
chown -R "$user:$user" "$home"

# The desktop did write its settings (an empty result means the login did not happen).
for p in $WINUX_DESKTOP_FIRST_LOGIN_KEEP; do
  [ -e "$home/$p" ] || fail "the first login left no $p"
done
