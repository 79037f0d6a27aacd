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

# The pages: web/ is built into web/dist (not committed) when a source, the build
# script or the lock file is newer than the last build (web/build.ts; ~0.3 s).
built=web/dist/.built
if [ ! -f "$built" ] || [ package-lock.json -nt "$built" ] || [ -n "$(find web -path web/dist -prune -o -type f -newer "$built" -print -quit)" ]; then
  node --import tsx web/build.ts
fi
