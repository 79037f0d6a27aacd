#!/usr/bin/env bash
# The Winux desktop template recipe: a Debian 12 (bookworm) root filesystem with
# a desktop (XFCE, MATE or LXQt), xrdp and Firefox ESR, ready to be cloned for
# each session.
#
#   build.sh ROOTFS_DIR
#
# Environment: WINUX_MIRROR (Debian mirror URL), WINUX_CACHE_DIR (downloaded .debs
# are kept there so a rebuild downloads nothing), WINUX_DESKTOP_USER,
# WINUX_DESKTOP (a directory of desktops/; xfce when unset).
#
# One recipe per desktop, sharing a base: the base (packages.txt, files/,
# configure.sh) first, then the desktop's own (desktops/<name>/packages.txt in
# the same apt-get, desktops/<name>/files/ copied over files/,
# desktops/<name>/configure.sh after configure.sh), then first-login.sh (the
# desktop user's first login, run once here instead of in every session).
# Prints "::step <name>" lines that `winux template build` turns into progress.
#
# It runs in a private mount namespace (see the re-exec below), so the bind
# mounts it makes vanish with it even if it is killed half-way.
set -euo pipefail

if [ -z "${WINUX_IN_NAMESPACE:-}" ]; then
  export WINUX_IN_NAMESPACE=1
  exec unshare --mount --propagation private -- bash "$0" "$@"
fi

rootfs=${1:?usage: build.sh ROOTFS_DIR}
mirror=${WINUX_MIRROR:-http://deb.debian.org/debian}
cache=${WINUX_CACHE_DIR:-/var/cache/winux}
user=${WINUX_DESKTOP_USER:-winux}
here=$(cd "$(dirname "$0")" && pwd)
desktop=${WINUX_DESKTOP:-xfce}
own="$here/desktops/$desktop"
[ -f "$own/packages.txt" ] || { echo "build.sh: no desktop recipe $own" >&2; exit 2; }

mkdir -p "$cache/debootstrap" "$cache/apt-archives/partial" "$(dirname "$rootfs")"

echo "::step debootstrap"
# minbase: just enough for apt; everything else comes from packages.txt.
# --cache-dir keeps the .debs, so a rebuild re-uses them.
debootstrap --variant=minbase --cache-dir="$cache/debootstrap" \
  --include=ca-certificates bookworm "$rootfs" "$mirror"

echo "::step mounts"
mount -t proc proc "$rootfs/proc"
mount --bind /dev "$rootfs/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$rootfs/dev/pts" 2>/dev/null || true
mount --bind "$cache/apt-archives" "$rootfs/var/cache/apt/archives"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"

# Services must not start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  # Security updates: deb.debian.org and most mirrors serve them next door.
  case "$mirror" in */debian) echo "deb ${mirror%/debian}/debian-security bookworm-security main" ;; esac
} > "$rootfs/etc/apt/sources.list"
# Keep downloaded .debs (our cache); never install recommends.
cat > "$rootfs/etc/apt/apt.conf.d/90winux" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Binary::apt::APT::Keep-Downloaded-Packages "true";
APT::Keep-Downloaded-Packages "true";
APT

# Smaller image: no documentation, and translations only for French and English.
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/90winux-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/fr/*
path-include /usr/share/locale/fr_FR/*
path-include /usr/share/locale/en/*
path-include /usr/share/locale/en_US/*
path-include /usr/share/locale/en_GB/*
path-include /usr/share/locale/locale.alias
DPKG

echo "::step apt-install"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^\s*$/d' "$here/packages.txt" "$own/packages.txt")
chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C \
  sh -c 'apt-get update -q && apt-get install -y -q -o Dpkg::Use-Pty=0 "$@"' sh "${pkgs[@]}"

echo "::step configure"
cp -r "$here/files/." "$rootfs/"
[ ! -d "$own/files" ] || cp -r "$own/files/." "$rootfs/"
for script in "$here/configure.sh" "$own/configure.sh"; do
  [ -f "$script" ] || continue
  chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C \
    WINUX_DESKTOP_USER="$user" sh -s < "$script"
done
# The desktop user's first login, so that sessions start like a returning user's,
# in PID and network namespaces of its own: it sees and signals no other process,
# and its session bus's abstract socket is not on the host's network namespace.
unshare --pid --fork --mount-proc="$rootfs/proc" --net -- chroot "$rootfs" \
  /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C \
  WINUX_DESKTOP_USER="$user" sh -s < "$here/first-login.sh"

echo "::step cleanup"
rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs/etc/resolv.conf"
umount "$rootfs/var/cache/apt/archives"
umount "$rootfs/dev/pts" 2>/dev/null || true
umount "$rootfs/dev" "$rootfs/proc"
rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb \
  "$rootfs/tmp/"* "$rootfs/var/tmp/"*
# Empty the logs but keep the files: xrdp runs as the xrdp user and cannot create its own.
find "$rootfs/var/log" -type f -exec truncate -s 0 {} +
echo "::step rootfs-ready"
