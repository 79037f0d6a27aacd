#!/usr/bin/env bash
# Installs the Debian packages Winux's local LXC provider needs on the host, and
# only those that are missing (so a second run is instant and offline).
# Used by `winux serve --setup` / `npm start` on first run and by the LXC tests.
#
#   bash scripts/setup-host.sh            install what is missing
#   bash scripts/setup-host.sh --check    print what is missing, exit 1 if anything is
#   bash scripts/setup-host.sh --with-test-tools   also the RDP client, Xvfb and ImageMagick
set -euo pipefail

# The lists live in scripts/packages/ (one package a line, each with why it is
# there), so test/host/packages.test.ts can check them against what the code uses.
# lxc-templates is listed there because every container config includes its
# /usr/share/lxc/config/debian.*.conf, and lxc only *recommends* it.
lists="$(cd "$(dirname "$0")" && pwd)/packages"
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$lists/$1"; }
mapfile -t packages < <(read_list host.txt)
mapfile -t test_tools < <(read_list test-tools.txt)

check_only=0
want=("${packages[@]}")
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --with-test-tools) want+=("${test_tools[@]}") ;;
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
# Refresh the index only when an install fails for lack of it: keeps re-runs fast.
if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "Host packages installed."
