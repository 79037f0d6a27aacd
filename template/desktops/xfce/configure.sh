# XFCE's own fixes. Runs inside the template's root filesystem after
# template/configure.sh (same environment), for `--desktop xfce` only.
set -eu

# Sessions are temporary: never save/restore them, never lock on suspend/switch.
# (Edits Debian's file in place: it also defines the Failsafe session that starts
# xfwm4, the panel and the desktop, so it must not be replaced.)
xs=/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-session.xml
grep -q 'name="Client0_Command"' "$xs"
if ! grep -q 'name="SaveOnExit"' "$xs"; then
  sed -i 's#^\(\s*\)<property name="general" type="empty">#&\n\1  <property name="SaveOnExit" type="bool" value="false"/>#' "$xs"
  sed -i 's#^\(\s*\)<property name="sessions" type="empty">#\1<property name="shutdown" type="empty">\n\1  <property name="LockScreen" type="bool" value="false"/>\n\1</property>\n&#' "$xs"
fi
grep -q 'name="SaveOnExit"' "$xs"
