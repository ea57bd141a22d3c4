#!/usr/bin/env bash
# EMERGENCY ROLLBACK — the runbook's "Immediate Rollback (Emergency)" script, corrected.
# Use when: P1 incident, data integrity concerns, cascading failures.
#
#   ADMIN_TOKEN=... scripts/emergency-rollback.sh
#
# Environment: ADMIN_TOKEN (required; `agenc rollout abort` below needs it too), AGENC_URL (default
# $AGENC_ADMIN_URL, the CLI's, else http://localhost:9090),
# DRAIN_TIMEOUT_MS (how long the drain may wait for active speculative tasks; default 110000).
# Exit: 0 no speculative task left; 1 some still active; 2 the admin API refused or was unreachable.
# Each change from the runbook's text is marked "FIX:".
#
# If a rollout workflow is running, abort it too (`agenc rollout abort NAME`), or its next phase
# will set rollout_percentage again (speculation.enabled=false still wins while it stays false).

# FIX: no `set -e` (every step's failure is handled below), but unset variables and failures inside
# pipelines are errors.
set -uo pipefail

AGENC_URL="${AGENC_URL:-${AGENC_ADMIN_URL:-http://localhost:9090}}"
# FIX: fail at once with a clear message instead of sending "Authorization: Bearer " and getting 401s.
: "${ADMIN_TOKEN:?ADMIN_TOKEN must be set (the admin bearer token the worker was started with)}"
DRAIN_TIMEOUT_MS="${DRAIN_TIMEOUT_MS:-110000}"
# FIX: curl's --max-time must be longer than the server's drain limit, so the server answers (504
# with what is left) instead of curl cutting the connection; the runbook's 120 s met the server's
# 110 s default by luck only.
CURL_MAX_TIME=$(( DRAIN_TIMEOUT_MS / 1000 + 15 ))

auth=(-H "Authorization: Bearer ${ADMIN_TOKEN}")
# FIX: say the body is JSON (the runbook's `-d` sends application/x-www-form-urlencoded).
json=(-H "Content-Type: application/json")

# FIX: read the gauge's sample line only. The runbook's `grep speculation_active_tasks | awk '{print $2}'`
# also matched the `# HELP` and `# TYPE` lines, so ACTIVE was three words and never equal to "0".
active_tasks() {
  curl -fsS --max-time 10 "${AGENC_URL}/metrics" | awk '$1 == "speculation_active_tasks" { print $2; found = 1 } END { exit !found }'
}

# Step 1: Disable speculation (no new speculative tasks)
# FIX: -f makes an HTTP error (401, 400, 503) a failure; -sS keeps errors visible without the progress bar.
if ! curl -fsS -X POST "${AGENC_URL}/admin/config" "${auth[@]}" "${json[@]}" \
  -d '{"speculation.enabled": false}' >/dev/null; then
  echo "✗ could not disable speculation through ${AGENC_URL}/admin/config" >&2
  exit 2
fi
echo "speculation disabled"

# Step 2: Drain existing speculative tasks (graceful)
# FIX: -f. The drain endpoint answers 504 when speculative tasks remain after its limit; without -f
# curl exits 0 on any HTTP status, so the runbook's force-rollback branch could never run.
# FIX: the limit is passed to the server (?timeout_ms=), not only to curl.
# FIX: test curl's status directly in `if` rather than `$?` a line later.
if curl -fsS -X POST "${AGENC_URL}/admin/speculation/drain?timeout_ms=${DRAIN_TIMEOUT_MS}" "${auth[@]}" \
  --max-time "${CURL_MAX_TIME}" >/dev/null; then
  echo "drain complete"
else
  # Step 3: Force rollback if drain fails
  echo "Drain timeout, forcing rollback..."
  if ! curl -fsS -X POST "${AGENC_URL}/admin/speculation/force-rollback" "${auth[@]}" --max-time 90 >/dev/null; then
    # FIX: the runbook did not check this call; a 504 here means tasks are still rolling back.
    echo "⚠ force-rollback did not finish cleanly; checking what is left" >&2
  fi
fi

# Step 4: Verify no speculative tasks remain
if ! ACTIVE=$(active_tasks); then
  # FIX: an unreachable /metrics is not "0 active".
  echo "✗ could not read speculation_active_tasks from ${AGENC_URL}/metrics" >&2
  exit 2
fi
# FIX: compare as a number (a gauge may print 0 or 0.0).
if awk -v v="${ACTIVE}" 'BEGIN { exit !(v + 0 == 0) }'; then
  echo "✓ Rollback complete, no active speculative tasks"
  exit 0
else
  echo "⚠ Warning: ${ACTIVE} speculative tasks still active"
  exit 1
fi
