#!/usr/bin/env bash
# GRACEFUL DRAIN — the runbook's Version Rollback, step 1 ("Graceful drain (as above)"): stop new
# speculation and wait until no speculative task is active, so a deployment can be rolled back without
# cutting speculative work in half. Unlike scripts/graceful-rollback.sh it leaves the configuration
# alone: the drain holds (in the speculation-control workflow, across worker restarts) until
# `agenc speculation resume`.
set -uo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/graceful-drain.sh [--timeout SECONDS] [--poll SECONDS]

Drains speculation through the admin API (POST /admin/speculation/drain): no new speculative task
starts, and the script waits, printing the number still active, until none is left or the timeout.

Options:
  --timeout SECONDS  how long to wait for active speculative tasks (default 600)
  --poll SECONDS     how often to report progress (default 10)
  --help             show this help

Environment:
  ADMIN_TOKEN  the admin bearer token the worker was started with (required)
  AGENC_URL    the worker's metrics/admin address (default $AGENC_ADMIN_URL, as the agenc CLI
               reads it, else http://localhost:9090)

Exit status: 0 drained, no speculative task active; 1 speculative tasks still active at the
timeout (wait longer, or force them back with scripts/emergency-rollback.sh); 2 usage error, or
the admin API refused the request or could not be reached.
After the rollback, `agenc speculation resume` (with the same ADMIN_TOKEN: the CLI's writes go
through the admin API too) lets speculation start again.
EOF
}

usage_error() {
  echo "graceful-drain: $1" >&2
  echo "Run scripts/graceful-drain.sh --help for usage." >&2
  exit 2
}

whole_seconds() {
  [[ "$2" =~ ^[0-9]+$ ]] && (( $2 >= 1 )) || usage_error "$1 must be a whole number of seconds ≥ 1, got \"$2\""
}

TIMEOUT_SECONDS=600
POLL_SECONDS=10
while (( $# )); do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --timeout | --poll)
      (( $# >= 2 )) || usage_error "$1 needs a value"
      whole_seconds "$1" "$2"
      if [[ "$1" == --timeout ]]; then TIMEOUT_SECONDS="$2"; else POLL_SECONDS="$2"; fi
      shift 2 ;;
    *) usage_error "unknown option \"$1\" (known: --timeout, --poll, --help)" ;;
  esac
done

AGENC_URL="${AGENC_URL:-${AGENC_ADMIN_URL:-http://localhost:9090}}"
if [[ -z "${ADMIN_TOKEN:-}" ]]; then
  echo "graceful-drain: ADMIN_TOKEN must be set (the admin bearer token the worker was started with)" >&2
  exit 2
fi

body_file=$(mktemp)
trap 'rm -f "${body_file}"' EXIT

echo "Draining: no new speculation; waiting up to ${TIMEOUT_SECONDS}s for active speculative tasks (${AGENC_URL})"
deadline=$(( SECONDS + TIMEOUT_SECONDS ))
while :; do
  left=$(( deadline - SECONDS ))
  (( left < 0 )) && left=0
  slice=$(( left < POLL_SECONDS ? left : POLL_SECONDS ))
  # Each call asks the server to wait one slice: it answers 200 once nothing is active, 504 with
  # what is left otherwise, so progress shows every --poll seconds without a long-held request.
  # curl's limit is above the slice so the server, not curl, ends the wait.
  if ! code=$(curl -sS --max-time $(( slice + 15 )) -o "${body_file}" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer ${ADMIN_TOKEN}" "${AGENC_URL}/admin/speculation/drain?timeout_ms=$(( slice * 1000 ))"); then
    echo "✗ could not reach the admin API at ${AGENC_URL}" >&2
    exit 2
  fi
  remaining=$(grep -o '"remaining": *[0-9]*' "${body_file}" | grep -o '[0-9]*$')
  case "${code}" in
    200)
      echo "✓ All speculative tasks drained"
      echo "Speculation stays drained until \`agenc speculation resume\`."
      exit 0 ;;
    504)
      if (( SECONDS >= deadline )); then
        echo "✗ ${remaining:-an unknown number of} speculative task(s) still active after ${TIMEOUT_SECONDS}s: wait longer, or force them back with scripts/emergency-rollback.sh" >&2
        exit 1
      fi
      echo "Active speculative tasks: ${remaining:-unknown} (waiting, $(( deadline - SECONDS ))s left)" ;;
    *)
      echo "✗ the admin API refused the drain (HTTP ${code}): $(cat "${body_file}")" >&2
      exit 2 ;;
  esac
done
