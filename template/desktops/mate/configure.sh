# MATE's own fixes. Runs inside the template's root filesystem after
# template/configure.sh (same environment), for `--desktop mate` only.
set -eu

# Our defaults (files/usr/share/glib-2.0/schemas/90_winux.gschema.override)
# only count once compiled; glib-compile-schemas skips an override of an unknown
# schema with a mere warning, so check that it took.
glib-compile-schemas /usr/share/glib-2.0/schemas
[ "$(gsettings get org.mate.Marco.general compositing-manager 2>/dev/null)" = false ]

# The time left in the panel: our layout is the default one, it holds a Command
# applet (mate-applets), that applet exists, and its command is winux-timeleft.
# A typo anywhere here fails the build, not a visitor's panel.
[ "$(gsettings get org.mate.panel default-layout)" = "'winux'" ]
grep -q '^applet-iid=CommandAppletFactory::CommandApplet$' /usr/share/mate-panel/layouts/winux.layout
grep -q '^Id=CommandAppletFactory$' /usr/share/mate-panel/applets/org.mate.applets.CommandApplet.mate-panel-applet
grep -q '^Exec=/usr/lib/mate-applets/command-applet$' /usr/share/dbus-1/services/org.mate.panel.applet.CommandAppletFactory.service
[ -x /usr/lib/mate-applets/command-applet ]
[ "$(gsettings get org.mate.panel.applet.command:/org/mate/panel/objects/timeleft/prefs/ command)" = "'/usr/local/bin/winux-timeleft'" ]
[ -x /usr/local/bin/winux-timeleft ]
