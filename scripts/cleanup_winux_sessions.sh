#!/usr/bin/env bash
# Ends every expired Winux session now: the seed's cron script, kept for cron use.
# The server already ends sessions on time by itself; this is a safety net.
#
#   */5 * * * * /path/to/winux/scripts/cleanup_winux_sessions.sh
#
# Talks to the running server (WINUX_URL, default http://127.0.0.1:$WINUX_PORT)
# with the admin token from the data dir. Appends one line per run to
# $WINUX_CLEANUP_LOG (default: $WINUX_DATA_DIR/logs/cleanup.log), a place the
# script can write to (the seed's /tmp/winux_cleanup.log could not be trusted).
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data_dir="${WINUX_DATA_DIR:-$here/data}"
log="${WINUX_CLEANUP_LOG:-$data_dir/logs/cleanup.log}"
mkdir -p "$(dirname "$log")"

output=$(cd "$here" && WINUX_DATA_DIR="$data_dir" node bin/winux.js cleanup 2>&1)
status=$?
printf '%s %s\n' "$(date -Is)" "$output" >>"$log"
exit $status
