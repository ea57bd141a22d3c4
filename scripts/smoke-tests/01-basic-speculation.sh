#!/bin/bash
# 01-basic-speculation.sh — the runbook's Test 1, as written there, as the smoke tests' agent (lib.sh), and
# saying why when the child did not speculate.

set -e
source "$(dirname "$0")/lib.sh"

echo "=== Test 1: Basic Speculation Flow ==="

# Submit parent task
PARENT_ID=$(agenc task submit \
  --type "compute" \
  --payload '{"value": 100}' \
  --output json | jq -r '.task_id')

echo "Parent task: $PARENT_ID"

# Submit dependent task (should speculate)
CHILD_ID=$(agenc task submit \
  --type "compute" \
  --payload '{"value": 200}' \
  --depends-on "$PARENT_ID" \
  --output json | jq -r '.task_id')

echo "Child task: $CHILD_ID"

# Wait and check status
sleep 5

CHILD_STATUS=$(agenc task status "$CHILD_ID" --output json | jq -r '.speculation_status')

if [[ "$CHILD_STATUS" == "speculative" ]]; then
  echo "✓ Child task executing speculatively"
else
  echo "✗ Expected speculative status, got: $CHILD_STATUS"
  explain_status "$CHILD_STATUS"
  exit 1
fi

# Wait for parent confirmation
agenc task wait "$PARENT_ID" --timeout 60

# Verify child transitions to confirmed
sleep 5
FINAL_STATUS=$(agenc task status "$CHILD_ID" --output json | jq -r '.status')

if [[ "$FINAL_STATUS" == "confirmed" ]]; then
  echo "✓ Child task confirmed after parent"
else
  echo "✗ Expected confirmed status, got: $FINAL_STATUS"
  exit 1
fi

echo "=== Test 1 PASSED ==="
