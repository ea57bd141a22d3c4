# Shared by the smoke tests: the `agenc` CLI (on PATH, or this checkout's through npx) and the metrics URL.
if ! command -v agenc >/dev/null 2>&1; then
  AGENC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  agenc() { node "$AGENC_ROOT/bin/agenc.js" "$@"; }
fi
METRICS_URL="${METRICS_URL:-http://localhost:9090/metrics}"

# The smoke tests submit as an agent of their own (default "smoke", funded by `npm start`), so a canary can
# target them into the rollout at any percentage: speculation.features.rollout_target_agents = ["smoke"].
export AGENC_AGENT="${AGENC_SMOKE_AGENT:-smoke}"

# When a task that should have speculated did not, says why if the configuration is the answer: the
# rollout (with its percentage and targets) or the agent's stake.
explain_status() {
  case "$1" in
    not_in_rollout)
      echo "  the task is outside the rollout: $(agenc config show --output json |
        jq -c '.config.speculation.features | {rollout_percentage, rollout_target_agents, rollout_target_task_prefixes}')"
      echo "  target the smoke tests' agent into it: add \"$AGENC_AGENT\" to speculation.features.rollout_target_agents," \
        "e.g. agenc config set 'speculation.features.rollout_target_agents=[\"$AGENC_AGENT\"]'" ;;
    stake_limit)
      echo "  agent $AGENC_AGENT has too little stake for a bond: agenc stake init --agent $AGENC_AGENT --amount 1000000000" ;;
  esac
}

# Sum of a metric's samples across label sets. Fixes the runbook's `grep NAME | awk '{print $2}'`,
# which also matches the exposition format's `# HELP` and `# TYPE` lines and prints one value per label set.
metric_sum() {
  curl -s "$METRICS_URL" | awk -v name="$1" '$1 == name || index($1, name "{") == 1 { s += $2 } END { print s + 0 }'
}
