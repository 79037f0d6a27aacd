# XFCE's own fixes. Runs inside the template's root filesystem after
# template/configure.sh (same environment), for `--desktop xfce` only.
set -eu

# The XFCE session (files/.../xfce4-session.xml replaces Debian's): never saved
# or locked, the panel and the desktop started together, no Thunar daemon.
xs=/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-session.xml
grep -q 'name="SaveOnExit" type="bool" value="false"' "$xs" && grep -q 'name="Client3_Command"' "$xs" && ! grep -q 'value="Thunar"' "$xs"
# All four clients in one priority group (15): none waits for another to register.
[ "$(grep -c '_Priority" type="int" value="15"' "$xs")" = 4 ]
