#!/usr/bin/env bash
# Installs the Debian packages Winux's local LXC provider needs on the host, and
# only those that are missing (so a second run is instant and offline).
# Used by `winux serve --setup` / `npm start` on first run and by the LXC tests.
#
#   bash scripts/setup-host.sh            install what is missing
#   bash scripts/setup-host.sh --check    print what is missing, exit 1 if anything is
#   bash scripts/setup-host.sh --with-test-tools   also the RDP client, Xvfb and ImageMagick
set -euo pipefail

# What each package is for, so an admin reading this knows why it is here.
packages=(
  lxc            # containers: lxc-create/copy/start/attach/destroy
  debootstrap    # builds the template's Debian root filesystem
  iptables       # NAT for outbound browsing, RDP port forwarding, isolation
  iproute2       # ip / bridge commands (bridge port isolation)
  dnsmasq-base   # DNS forwarder on the bridge when the host's resolver is loopback-only
  zstd           # compresses the cached template archive (also the Proxmox vztmpl)
  uidmap         # newuidmap/newgidmap for unprivileged containers
  openssl        # session TLS keys are generated inside the container, but keep the tool around
)
test_tools=(
  freerdp2-x11   # xfreerdp: the real RDP client used by tests and the benchmark
  xvfb           # headless X server for the full-login screenshot test
  imagemagick    # `import` takes the screenshot, `convert` reads pixels
  x11-utils      # xwininfo lists the windows of the remote desktop
)

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
