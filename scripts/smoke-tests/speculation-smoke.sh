#!/bin/bash
# speculation-smoke.sh [--env NAME] — runs every smoke test in order and reports each; exit 1 if any failed.
# Against `npm start` (the embedded default) or any deployment: set TEMPORAL_ADDRESS and METRICS_URL.

set -u
ENV_NAME="local"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --env) ENV_NAME="${2:?--env needs a name}"; shift 2 ;;
    -h|--help) echo "usage: $0 [--env NAME]"; exit 0 ;;
    *) echo "unknown argument: $1 (usage: $0 [--env NAME])" >&2; exit 2 ;;
  esac
done

DIR="$(cd "$(dirname "$0")" && pwd)"
echo "Speculation smoke tests against environment: $ENV_NAME"
failed=0
for t in 01-basic-speculation.sh 02-rollback-recovery.sh 03-proof-generation.sh 04-stake-mechanics.sh 05-metrics-emission.sh; do
  if bash "$DIR/$t"; then echo "--- $t: PASSED"; else echo "--- $t: FAILED"; failed=$((failed + 1)); fi
done
if [[ $failed -eq 0 ]]; then echo "All smoke tests passed."; else echo "$failed smoke test(s) failed."; exit 1; fi
