#!/usr/bin/env bash
# Runs the test suite with Node's test runner. Optional arguments narrow it to
# files whose path contains one of them: `bash scripts/test.sh store http`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "$#" -gt 0 ]; then
  selected=()
  for f in "${files[@]}"; do
    for pattern in "$@"; do
      if [[ "$f" == *"$pattern"* ]]; then selected+=("$f"); break; fi
    done
  done
  files=("${selected[@]}")
fi
mkdir -p test-output
# One file at a time: the LXC and browser tests share the host's containers and ports.
# A file that hangs (a server left listening keeps its process alive) fails
# after 40 minutes instead of holding the run: the longest file, the first LXC
# suite on a fresh machine, builds the template in about 10.
exec node --import tsx --test --test-concurrency=1 --test-timeout=2400000 --test-reporter=spec "${files[@]}"
