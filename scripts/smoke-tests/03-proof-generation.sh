#!/bin/bash
# 03-proof-generation.sh — the runbook's Test 3, as written there.

set -e
source "$(dirname "$0")/lib.sh"

echo "=== Test 3: Proof Generation ==="

# Submit task and wait for proof
TASK_ID=$(agenc task submit \
  --type "compute" \
  --payload '{"value": 42}' \
  --output json | jq -r '.task_id')

# Wait for proof generation
agenc task wait "$TASK_ID" --timeout 120

# Check proof exists
PROOF=$(agenc proof get "$TASK_ID" --output json)

if [[ $(echo "$PROOF" | jq -r '.proof_type') == "groth16" ]]; then
  echo "✓ Proof generated with correct type"
else
  echo "✗ Proof generation failed"
  exit 1
fi

# Verify proof is valid
if agenc proof verify "$TASK_ID"; then
  echo "✓ Proof verification passed"
else
  echo "✗ Proof verification failed"
  exit 1
fi

echo "=== Test 3 PASSED ==="
