#!/usr/bin/env bash
# GRACEFUL ROLLBACK — the runbook's "Graceful Rollback (Planned)" script, corrected.
# Use when: scheduled maintenance, config changes, gradual wind-down.
#
#   ADMIN_TOKEN=... scripts/graceful-rollback.sh
#
# Environment: ADMIN_TOKEN (required; `agenc rollout abort` below needs it too), AGENC_URL (default
# $AGENC_ADMIN_URL, the CLI's, else http://localhost:9090),
# WAIT_SECONDS (natural drain limit, default 600), POLL_SECONDS (default 10).
# Exit: 0 drained and disabled; 1 disabled but speculative tasks were still active at the limit
# (run scripts/emergency-rollback.sh); 2 the admin API refused or was unreachable.
# Each change from the runbook's text is marked "FIX:".
#
# If a rollout workflow is running, abort it first (`agenc rollout abort NAME`): its next phase would
# set rollout_percentage again.

set -uo pipefail

AGENC_URL="${AGENC_URL:-${AGENC_ADMIN_URL:-http://localhost:9090}}"
# FIX: a missing token is reported, not sent as "Bearer ".
: "${ADMIN_TOKEN:?ADMIN_TOKEN must be set (the admin bearer token the worker was started with)}"
WAIT_SECONDS="${WAIT_SECONDS:-600}"
POLL_SECONDS="${POLL_SECONDS:-10}"

auth=(-H "Authorization: Bearer ${ADMIN_TOKEN}")
json=(-H "Content-Type: application/json")

# FIX: only the sample line; the runbook's grep also caught `# HELP` / `# TYPE`, so ACTIVE never
# equalled "0" and the loop always ran its full 10 minutes.
active_tasks() {
  curl -fsS --max-time 10 "${AGENC_URL}/metrics" | awk '$1 == "speculation_active_tasks" { print $2; found = 1 } END { exit !found }'
}
is_zero() { awk -v v="$1" 'BEGIN { exit !(v + 0 == 0) }'; }

# Step 1: Stop new speculative tasks
# FIX: -fsS so a refused change (401, 400) stops the script instead of waiting 10 minutes for nothing.
if ! curl -fsS -X POST "${AGENC_URL}/admin/config" "${auth[@]}" "${json[@]}" \
  -d '{"speculation.features.rollout_percentage": 0}' >/dev/null; then
  echo "✗ could not set rollout_percentage to 0 through ${AGENC_URL}/admin/config" >&2
  exit 2
fi

echo "Waiting for in-flight tasks to complete..."

# Step 2: Wait for natural drain (up to WAIT_SECONDS)
drained=0
deadline=$(( SECONDS + WAIT_SECONDS ))
while :; do
  # FIX: an unreadable /metrics is "unknown", not "drained" (the runbook compared an empty string).
  if ACTIVE=$(active_tasks); then
    if is_zero "${ACTIVE}"; then
      echo "All speculative tasks drained"
      drained=1
      break
    fi
    echo "Active tasks: ${ACTIVE} (waiting...)"
  else
    echo "Active tasks: unknown (${AGENC_URL}/metrics unreadable; waiting...)" >&2
  fi
  (( SECONDS >= deadline )) && break
  sleep "${POLL_SECONDS}"
done

# Step 3: Disable speculation entirely
if ! curl -fsS -X POST "${AGENC_URL}/admin/config" "${auth[@]}" "${json[@]}" \
  -d '{"speculation.enabled": false}' >/dev/null; then
  echo "✗ could not disable speculation" >&2
  exit 2
fi

# FIX: the runbook printed "complete" even when tasks were still active after the 10 minutes.
if (( drained )); then
  echo "✓ Graceful rollback complete"
  exit 0
fi
echo "⚠ speculation disabled, but ${ACTIVE:-an unknown number of} speculative tasks were still active after ${WAIT_SECONDS}s: run scripts/emergency-rollback.sh" >&2
exit 1
