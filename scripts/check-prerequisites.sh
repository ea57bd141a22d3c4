#!/usr/bin/env bash
# Prerequisite check from the speculation deployment runbook ("Prerequisites Checklist").
# Prints one line per check: ✓ met, ✗ failed, ⚠ could not check, – skipped.
# Exit status: 0 when every minimum is met (or with --warn-only), 1 when one is not, 2 on a usage error.
set -uo pipefail

readonly MIN_MEMORY_MB=8192
readonly MIN_CPU_CORES=4
readonly MIN_DISK_GB=100
readonly MAX_RPC_LATENCY_MS=200
readonly CONNECT_TIMEOUT_S=3

usage() {
  cat <<'EOF'
Usage: scripts/check-prerequisites.sh --component speculation [--warn-only]

Checks this host against the speculation deployment runbook's prerequisites:
  Memory >= 8192 MB, CPU cores >= 4, Disk space free under $AGENC_DATA_DIR >= 100 GB,
  Temporal reachable at $TEMPORAL_ADDRESS, proof artifacts (verification_key.json) present,
  required accounts funded (agenc stake status), Solana RPC responsive < 200 ms (if $SOLANA_RPC_URL).

Options:
  --component speculation  the component to check (required; speculation is the only one)
  --warn-only              report failed minimums but exit 0
  --help                   show this help

Environment:
  AGENC_DATA_DIR      data directory whose filesystem is measured (default .data)
  AGENC_CIRCUITS_DIR  circuit artifacts, one directory per circuit (default .data/circuits)
  TEMPORAL_ADDRESS    host:port of the Temporal frontend (default 127.0.0.1:7233)
  SOLANA_RPC_URL      Solana JSON-RPC endpoint; unset means the embedded SVM (check skipped)
  AGENC_CLI           command that runs the agenc CLI (default: npx --no-install agenc)

Exit status: 0 all minimums met (or --warn-only), 1 a minimum not met, 2 usage error.
EOF
}

usage_error() {
  echo "check-prerequisites: $1" >&2
  echo "Run scripts/check-prerequisites.sh --help for usage." >&2
  exit 2
}

component=""
warn_only=false
while (($# > 0)); do
  case "$1" in
    --component)
      (($# >= 2)) || usage_error "--component needs a value (the only component is: speculation)"
      component="$2"
      shift 2
      ;;
    --component=*)
      component="${1#--component=}"
      shift
      ;;
    --warn-only)
      warn_only=true
      shift
      ;;
    --help | -h)
      usage
      exit 0
      ;;
    *)
      usage_error "unknown argument '$1'"
      ;;
  esac
done

[[ -n "$component" ]] || usage_error "--component is required (the only component is: speculation)"
[[ "$component" == "speculation" ]] || usage_error "unknown component '$component' (the only component is: speculation)"

failures=0
pass() { echo "✓ $1"; }
fail() {
  echo "✗ $1"
  failures=$((failures + 1))
}
unknown() { echo "⚠ $1"; }
skipped() { echo "– $1"; }

check_memory() {
  local kb mb
  kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null)
  if [[ -z "$kb" ]]; then
    fail "Memory: could not read /proc/meminfo (minimum: ${MIN_MEMORY_MB} MB)"
    return
  fi
  mb=$((kb / 1024))
  if ((mb >= MIN_MEMORY_MB)); then
    pass "Memory: ${mb} MB (minimum: ${MIN_MEMORY_MB} MB)"
  else
    fail "Memory: ${mb} MB (minimum: ${MIN_MEMORY_MB} MB)"
  fi
}

check_cpu() {
  local cores
  cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
  if ((cores >= MIN_CPU_CORES)); then
    pass "CPU cores: ${cores} (minimum: ${MIN_CPU_CORES})"
  else
    fail "CPU cores: ${cores} (minimum: ${MIN_CPU_CORES})"
  fi
}

# The data directory may not exist before the first start: measure the filesystem it will live on.
check_disk() {
  local dir="${AGENC_DATA_DIR:-.data}" probe kb gb
  probe="$dir"
  while [[ ! -d "$probe" ]]; do
    probe=$(dirname "$probe")
  done
  kb=$(df -Pk "$probe" 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [[ -z "$kb" ]]; then
    fail "Disk space: could not measure ${dir} (minimum: ${MIN_DISK_GB} GB)"
    return
  fi
  gb=$((kb / 1024 / 1024))
  if ((gb >= MIN_DISK_GB)); then
    pass "Disk space: ${gb} GB free under ${dir} (minimum: ${MIN_DISK_GB} GB)"
  else
    fail "Disk space: ${gb} GB free under ${dir} (minimum: ${MIN_DISK_GB} GB)"
  fi
}

check_temporal() {
  local address="${TEMPORAL_ADDRESS:-127.0.0.1:7233}" host port
  host="${address%:*}"
  port="${address##*:}"
  host="${host#[}"
  host="${host%]}"
  if [[ -z "$host" || ! "$port" =~ ^[0-9]+$ || "$host" == "$address" ]]; then
    fail "Temporal reachable: TEMPORAL_ADDRESS '${address}' is not host:port"
    return
  fi
  if timeout "$CONNECT_TIMEOUT_S" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; then
    pass "Temporal reachable: ${address}"
  else
    fail "Temporal reachable: no TCP connection to ${address} within ${CONNECT_TIMEOUT_S}s (start it: npm run temporal, or set TEMPORAL_ADDRESS)"
  fi
}

check_proof_artifacts() {
  local dir="${AGENC_CIRCUITS_DIR:-.data/circuits}" keys=()
  shopt -s nullglob
  keys=("$dir"/*/verification_key.json)
  shopt -u nullglob
  if ((${#keys[@]} > 0)); then
    pass "Proof artifacts present: ${#keys[@]} verification key(s) under ${dir}"
  else
    fail "Proof artifacts present: no ${dir}/*/verification_key.json (build them: npm run build:circuits)"
  fi
}

# `agenc stake status --output json` lists agents with their available stake: funded when at least
# one agent has stake available to bond and none has run dry.
check_accounts() {
  local -a cli
  read -r -a cli <<<"${AGENC_CLI:-npx --no-install agenc}"
  if ! timeout 30 "${cli[@]}" --version >/dev/null 2>&1; then
    unknown "Required accounts funded: could not check (the agenc CLI did not answer: ${cli[*]} --version)"
    return
  fi
  local status_json verdict
  if ! status_json=$(timeout 60 "${cli[@]}" stake status --output json 2>/dev/null); then
    unknown "Required accounts funded: could not check (agenc stake status --output json failed)"
    return
  fi
  verdict=$(printf '%s' "$status_json" | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk));
    process.stdin.on("end", () => {
      try {
        const status = JSON.parse(text);
        if (!Array.isArray(status.agents)) console.log("unknown");
        else if (!status.agents.length) console.log("unfunded no agent has a stake account (agenc stake init --amount 1000000000)");
        else {
          const dry = status.agents.filter((a) => !(a.available > 0)).map((a) => a.agent);
          if (dry.length) console.log("unfunded no stake available for agent(s) " + dry.join(", ") + " (agenc stake init --amount 1000000000 --agent NAME)");
          else console.log("funded");
        }
      } catch {
        console.log("unknown");
      }
    });' 2>/dev/null)
  case "$verdict" in
    funded) pass "Required accounts funded" ;;
    unfunded*) fail "Required accounts funded: ${verdict#unfunded }" ;;
    *) unknown "Required accounts funded: could not check (agenc stake status gave no agent list)" ;;
  esac
}

check_solana_rpc() {
  if [[ -z "${SOLANA_RPC_URL:-}" ]]; then
    skipped "Solana RPC: SOLANA_RPC_URL not set, embedded SVM in use, skipped"
    return
  fi
  local out body seconds ms
  if ! out=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"getHealth"}' \
    -w '\n%{time_total}' "$SOLANA_RPC_URL" 2>&1); then
    fail "Solana RPC responsive: no answer from ${SOLANA_RPC_URL} (${out%%$'\n'*})"
    return
  fi
  body="${out%$'\n'*}"
  seconds="${out##*$'\n'}"
  ms=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 1000 + 0.5 }')
  if [[ ! "$body" =~ \"result\"[[:space:]]*:[[:space:]]*\"ok\" ]]; then
    fail "Solana RPC responsive: ${ms}ms but getHealth is not ok: ${body:0:200}"
  elif ((ms >= MAX_RPC_LATENCY_MS)); then
    fail "Solana RPC responsive: ${ms}ms (maximum: ${MAX_RPC_LATENCY_MS}ms)"
  else
    pass "Solana RPC responsive: ${ms}ms"
  fi
}

check_memory
check_cpu
check_disk
check_temporal
check_proof_artifacts
check_accounts
check_solana_rpc

if ((failures > 0)); then
  if $warn_only; then
    echo "${failures} prerequisite(s) not met (--warn-only: exiting 0)"
    exit 0
  fi
  echo "${failures} prerequisite(s) not met"
  exit 1
fi
echo "All prerequisites met"
