#!/bin/sh
# The user's desktop session, started once per session by winux-desktop (inside
# Xvnc). Which desktop: /etc/winux/desktop.conf, shipped by the template's
# desktops/<name>/files (XFCE when absent).
WINUX_DESKTOP_SESSION=/usr/bin/startxfce4
[ -r /etc/winux/desktop.conf ] && . /etc/winux/desktop.conf
if [ -r /etc/default/locale ]; then
  . /etc/default/locale
  export LANG LANGUAGE
fi
# No screen blanking or power saving inside a remote session.
xset s off -dpms 2>/dev/null || true
exec "$WINUX_DESKTOP_SESSION"
