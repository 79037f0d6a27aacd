#!/usr/bin/env bash
# Installs, idempotently, what the test suite needs on this machine: the local
# LXC provider's packages and test tools (scripts/setup-host.sh), Chromium for the
# page, PostgreSQL for the store, Ansible and proxmoxer for the Proxmox simulator.
# Only missing packages are installed; a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${WINUX_SKIP_HOST_SETUP:-}" = 1 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "The tests start real LXC containers and need root (they also install host packages)." >&2
  exit 1
fi

bash scripts/setup-host.sh --with-test-tools
bash ansible/install-deps.sh   # scripts/packages/ansible.txt: ansible, python3-proxmoxer, ...

# chromium, postgresql, openssl, xdotool, caddy, nginx, systemd: see the file for why.
mapfile -t extra < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/packages/test.txt)
missing=()
for p in "${extra[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing test packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests start their own caddy and nginx on loopback ports; the packaged
# services (both serve port 80 by default) are not wanted on a test host. Only what
# this run installed is stopped (where no init runs them, e.g. PID 1 is not
# systemd and policy-rc.d forbids starts, there is nothing to stop).
for svc in nginx caddy; do
  [[ " ${missing[*]} " == *" $svc "* ]] || continue
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
echo "Test host ready."
