#!/bin/bash
# 04-stake-mechanics.sh — listed by the runbook without a body; this one checks that a speculative
# child bonds stake and that the bond is released in full when it confirms.

set -e
source "$(dirname "$0")/lib.sh"

echo "=== Stake Mechanics ==="

AGENT="$AGENC_AGENT"
BEFORE=$(agenc stake status --agent "$AGENT" --output json | jq -r '.agents[0].available // 0')
if [[ "$BEFORE" -le 0 ]]; then
  echo "✗ agent $AGENT has no available stake (run: agenc stake init --amount 1000000000 --agent $AGENT)"
  exit 1
fi
echo "✓ Agent $AGENT has $BEFORE lamports available"

PARENT_ID=$(agenc task submit --type compute --payload '{"value": 7}' --agent "$AGENT" --output json | jq -r '.task_id')
CHILD_ID=$(agenc task submit --type compute --payload '{"value": 8}' --depends-on "$PARENT_ID" --agent "$AGENT" --output json | jq -r '.task_id')
agenc task wait "$CHILD_ID" --timeout 120 >/dev/null

BOND=$(agenc task status "$CHILD_ID" --output json | jq -c '.bond')
if [[ $(echo "$BOND" | jq -r '.state') == "released" ]]; then
  echo "✓ Bond of $(echo "$BOND" | jq -r '.amount') lamports locked and released on confirmation"
else
  CHILD_SPECULATION=$(agenc task status "$CHILD_ID" --output json | jq -r '.speculation_status')
  echo "✗ Expected a released bond, got: $BOND (the child ran $CHILD_SPECULATION)"
  explain_status "$CHILD_SPECULATION"
  exit 1
fi

AFTER=$(agenc stake status --agent "$AGENT" --output json | jq -r '.agents[0].available')
if [[ "$AFTER" == "$BEFORE" ]]; then
  echo "✓ Available stake back to $AFTER"
else
  echo "✗ Available stake $AFTER, expected $BEFORE"
  exit 1
fi

echo "=== Stake Mechanics PASSED ==="
