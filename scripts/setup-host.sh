#!/usr/bin/env bash
# Installs the Debian packages Winux's local LXC provider needs on the host, and
# only those that are missing (so a second run is instant and offline).
# Used by `winux serve --setup` / `npm start` on first run and by the LXC tests.
#
#   bash scripts/setup-host.sh            install what is missing
#   bash scripts/setup-host.sh --check    print what is missing, exit 1 if anything is
#   bash scripts/setup-host.sh --with-test-tools   also the RDP clients, Xvfb and ImageMagick
set -euo pipefail

# The lists live in scripts/packages/ (one package a line, each with why it is
# there), so test/host/packages.test.ts can check them against what the code uses.
# lxc-templates is listed there because every container config includes its
# /usr/share/lxc/config/debian.*.conf, and lxc only *recommends* it.
lists="$(cd "$(dirname "$0")" && pwd)/packages"
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$lists/$1"; }
mapfile -t packages < <(read_list host.txt)
mapfile -t test_tools < <(read_list test-tools.txt)
# Test tools Debian 12 has only in its backports suite (FreeRDP 3); newer
# releases (Debian 13, Ubuntu 24.04) have them in their main archives.
mapfile -t backported < <(read_list test-tools-backports.txt)

check_only=0
want=("${packages[@]}")
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --with-test-tools) want+=("${test_tools[@]}" "${backported[@]}") ;;
    *) echo "setup-host.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

if [ "$(uname -s)" != "Linux" ]; then
  echo "Winux's local provider runs containers with LXC, which needs Linux (found $(uname -s))." >&2
  exit 1
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "This script installs packages with apt (Debian/Ubuntu). Install these yourself: ${want[*]}" >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "Host packages: all present."
  exit 0
fi
if [ "$check_only" = 1 ]; then
  echo "Missing host packages: ${missing[*]}"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Winux's local provider needs root to install: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "Installing missing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# apt-get install, refreshing the index only when an install fails for lack of
# it: keeps re-runs fast.
apt_install() {
  apt-get install -y --no-install-recommends "$@" || { apt-get update && apt-get install -y --no-install-recommends "$@"; }
}

# test-tools-backports.txt is installed apart: on Debian 12 from bookworm-backports
# (added for these packages alone: its default priority, 100, never upgrades an
# installed package, and apt takes a package from it only when asked with -t),
# elsewhere from the configured sources, which have them.
from_main=()
from_backports=()
for p in "${missing[@]}"; do
  if [[ " ${backported[*]} " == *" $p "* ]]; then from_backports+=("$p"); else from_main+=("$p"); fi
done

if [ "${#from_main[@]}" -gt 0 ]; then apt_install "${from_main[@]}"; fi

if [ "${#from_backports[@]}" -gt 0 ]; then
  if [ "$(. /etc/os-release && echo "${ID:-}:${VERSION_CODENAME:-}")" = debian:bookworm ]; then
    backports_file=/etc/apt/sources.list.d/winux-bookworm-backports.sources
    if [ ! -f "$backports_file" ]; then
      # The mirror the machine's own bookworm source uses, so a local mirror or proxy keeps working.
      uri=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Identifier: Packages' | head -n1)
      if [ -z "$uri" ]; then
        echo "No bookworm source configured to add bookworm-backports beside, for: ${from_backports[*]}" >&2
        exit 1
      fi
      echo "Adding Debian's bookworm-backports source ($backports_file) for: ${from_backports[*]}"
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$backports_file"
      apt-get update
    fi
    apt_install -t bookworm-backports "${from_backports[@]}"
  else
    apt_install "${from_backports[@]}"
  fi
fi
echo "Host packages installed."
