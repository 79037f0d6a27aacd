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

# The missing packages of test-tools-backports.txt are installed on their own:
# from the configured sources where they have them, else, on Debian 12, from
# bookworm-backports.
from_main=()
from_backports=()
for p in "${missing[@]}"; do
  if [[ " ${backported[*]} " == *" $p "* ]]; then from_backports+=("$p"); else from_main+=("$p"); fi
done

# Refresh the index only when an install fails for lack of it: keeps re-runs fast.
if [ "${#from_main[@]}" -gt 0 ] && ! apt-get install -y --no-install-recommends "${from_main[@]}"; then
  apt-get update
  apt-get install -y --no-install-recommends "${from_main[@]}"
fi

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }
has_candidates() {
  local p c
  for p in "$@"; do
    c=$(candidate "$p")
    [ -n "$c" ] && [ "$c" != "(none)" ] || return 1
  done
}

# Debian 12's backports suite, added for the packages that need it and nothing
# else: its default priority (100) never upgrades an installed package, and apt
# takes a package from it only when asked (-t). Same mirror as the machine's
# bookworm source, so a local mirror or proxy keeps working.
backports_file=/etc/apt/sources.list.d/winux-bookworm-backports.sources
enable_bookworm_backports() {
  local id="" codename="" uri
  id=$(. /etc/os-release && echo "${ID:-}")
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ "$id" = debian ] && [ "$codename" = bookworm ] || return 1
  if [ ! -f "$backports_file" ]; then
    uri=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Identifier: Packages' | head -n1)
    [ -n "$uri" ] || return 1
    echo "Adding Debian's bookworm-backports source ($backports_file) for: $*"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$backports_file"
  fi
  apt-get update
}

if [ "${#from_backports[@]}" -gt 0 ]; then
  if has_candidates "${from_backports[@]}" || { apt-get update && has_candidates "${from_backports[@]}"; }; then
    # The configured sources have them (Debian 13, Ubuntu 24.04, or backports already there).
    if [ -f "$backports_file" ]; then
      apt-get install -y --no-install-recommends -t bookworm-backports "${from_backports[@]}"
    else
      apt-get install -y --no-install-recommends "${from_backports[@]}"
    fi
  elif enable_bookworm_backports "${from_backports[@]}"; then
    apt-get install -y --no-install-recommends -t bookworm-backports "${from_backports[@]}"
  else
    echo "No source here has ${from_backports[*]} (Debian 12 has it in bookworm-backports, Debian 13 and Ubuntu 24.04 in their main archives)." >&2
    exit 1
  fi
fi
echo "Host packages installed."
