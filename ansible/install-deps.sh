#!/usr/bin/env bash
# Installs what the playbooks and the simulator proofs need, from Debian
# (PyPI is not used): ansible (with community.general's proxmox module),
# python3-proxmoxer, and the OpenSSH client for `pct exec`. Idempotent.
set -euo pipefail
# The list is scripts/packages/ansible.txt (checked by test/host/packages.test.ts).
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$(cd "$(dirname "$0")" && pwd)/../scripts/packages/ansible.txt")
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
