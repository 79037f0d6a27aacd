# MATE's own fixes. Runs inside the template's root filesystem after
# template/configure.sh (same environment), for `--desktop mate` only.
set -eu

# Our defaults (files/usr/share/glib-2.0/schemas/90_winux.gschema.override)
# only count once compiled; glib-compile-schemas skips an override of an unknown
# schema with a mere warning, so check that it took.
glib-compile-schemas /usr/share/glib-2.0/schemas
[ "$(gsettings get org.mate.Marco.general compositing-manager 2>/dev/null)" = false ]
