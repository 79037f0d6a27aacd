#!/bin/sh
# The user's XFCE session, started once per session by winux-desktop (inside Xvnc).
if [ -r /etc/default/locale ]; then
  . /etc/default/locale
  export LANG LANGUAGE
fi
# No screen blanking or power saving inside a remote session.
xset s off -dpms 2>/dev/null || true
exec /usr/bin/startxfce4
