# Shared by the smoke tests: the `agenc` CLI (on PATH, or this checkout's through npx) and the metrics URL.
if ! command -v agenc >/dev/null 2>&1; then
  AGENC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  agenc() { node "$AGENC_ROOT/bin/agenc.js" "$@"; }
fi
METRICS_URL="${METRICS_URL:-http://localhost:9090/metrics}"

# Sum of a metric's samples across label sets. Fixes the runbook's `grep NAME | awk '{print $2}'`,
# which also matches the exposition format's `# HELP` and `# TYPE` lines and prints one value per label set.
metric_sum() {
  curl -s "$METRICS_URL" | awk -v name="$1" '$1 == name || index($1, name "{") == 1 { s += $2 } END { print s + 0 }'
}
