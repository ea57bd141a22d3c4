#!/bin/bash
# 05-metrics-emission.sh — the runbook's Test 4, as written there.

set -e
source "$(dirname "$0")/lib.sh"

echo "=== Test 4: Metrics Emission ==="

# Check required metrics exist
REQUIRED_METRICS=(
  "speculation_tasks_total"
  "speculation_active_tasks"
  "speculation_rollback_total"
  "speculation_proof_generation_seconds"
  "speculation_memory_usage_bytes"
  "speculation_depth_histogram"
)

for metric in "${REQUIRED_METRICS[@]}"; do
  if curl -s "$METRICS_URL" | grep -q "^$metric"; then
    echo "✓ Metric exists: $metric"
  else
    echo "✗ Missing metric: $metric"
    exit 1
  fi
done

echo "=== Test 4 PASSED ==="
