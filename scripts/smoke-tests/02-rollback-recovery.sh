#!/bin/bash
# 02-rollback-recovery.sh — the runbook's Test 2, with one fix: the rollback counter is read as the
# sum of its samples (see metric_sum in lib.sh), not with `grep | awk '{print $2}'`.

set -e
source "$(dirname "$0")/lib.sh"

echo "=== Test 2: Rollback Recovery ==="

# Submit task designed to fail
FAIL_PARENT=$(agenc task submit \
  --type "compute" \
  --payload '{"fail": true}' \
  --output json | jq -r '.task_id')

# Submit speculative child
CHILD_ID=$(agenc task submit \
  --type "compute" \
  --payload '{"value": 100}' \
  --depends-on "$FAIL_PARENT" \
  --output json | jq -r '.task_id')

# Wait for rollback
sleep 15

CHILD_STATUS=$(agenc task status "$CHILD_ID" --output json | jq -r '.status')

if [[ "$CHILD_STATUS" == "rolled_back" ]]; then
  echo "✓ Child task rolled back correctly"
else
  echo "✗ Expected rolled_back status, got: $CHILD_STATUS"
  exit 1
fi

# Verify rollback metric incremented
ROLLBACK_COUNT=$(metric_sum speculation_rollback_total)
if awk -v n="$ROLLBACK_COUNT" 'BEGIN { exit !(n > 0) }'; then
  echo "✓ Rollback metric recorded ($ROLLBACK_COUNT)"
else
  echo "✗ Rollback metric not recorded"
  exit 1
fi

echo "=== Test 2 PASSED ==="
