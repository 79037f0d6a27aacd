#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than the lock file,
# so `npm start` and `npm test` work on a fresh clone with nothing else to type.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "Winux needs Node.js 20 or newer (found $(node --version))." >&2
  exit 1
fi

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "Installing npm dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
fi
