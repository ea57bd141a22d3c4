/**
 * The runbook's Configuration Steps, as facts the config tests check against: Step 2's TOML (which
 * config/speculation-template.toml must reproduce exactly), the values it resolves to, and Step 3's
 * expected `agenc config validate --strict` lines. Copied here so the tests that use them read one
 * module; schema.test.ts checks the copy against the runbook itself (../shared/spec), and fails when the
 * runbook is not there rather than skip: a skipped check would let the copy drift unseen.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const RUNBOOK_PATH = path.resolve(PROJECT_ROOT, '..', 'shared', 'spec', 'speculation-deployment-runbook.md');
export const TEMPLATE_FILE = path.join(PROJECT_ROOT, 'config', 'speculation-template.toml');

/** The runbook document; throws naming where it was looked for and how to put it there. */
export function readRunbook(): string {
  try {
    return readFileSync(RUNBOOK_PATH, 'utf8');
  } catch (err) {
    throw new Error(
      `the deployment runbook cannot be read at ${RUNBOOK_PATH} (${(err as Error).message}): the config tests check ` +
        `the project against it, and it lives in shared/spec beside the project (../shared from ${PROJECT_ROOT}); ` +
        'put a copy of shared/ beside the clone, as CI does, and run again',
    );
  }
}

/** Step 2: Configure Core Settings. */
export const RUNBOOK_TOML = `[speculation]
enabled = false  # Start disabled, enable via feature flag
mode = "conservative"
max_depth = 3
max_parallel_branches = 2
confirmation_timeout_ms = 60000
rollback_policy = "cascade"

[speculation.stake]
min_stake = 1_000_000          # 0.001 SOL
max_stake = 1_000_000_000      # 1 SOL
stake_per_depth = 500_000      # 0.0005 SOL per level
slash_percentage = 0.1         # 10%
cooldown_period_ms = 300000    # 5 min

[speculation.proof]
generator = "groth16"
worker_threads = 8
queue_size = 2000
timeout_ms = 120000
batch_size = 20

[speculation.limits]
max_memory_mb = 8192
max_pending_operations = 50000
max_state_snapshots = 500
gc_interval_ms = 15000

[speculation.features]
enable_parallel_speculation = true
enable_cross_agent_speculation = false
enable_optimistic_proofs = true
enable_stake_delegation = false
rollout_percentage = 0.0  # Start at 0, increment gradually
`;

/** What Step 2's file means, key by key (the comments' SOL amounts included). */
export const RUNBOOK_RESOLVED = {
  speculation: {
    enabled: false,
    mode: 'conservative',
    max_depth: 3,
    max_parallel_branches: 2,
    confirmation_timeout_ms: 60_000,
    rollback_policy: 'cascade',
    // Not in the runbook's file: the default of a key added since (deadlines).
    claim_buffer_ms: 30_000,
    max_retries: 2,
    retry_backoff_ms: 1000,
    stake: {
      min_stake: 1_000_000,
      max_stake: 1_000_000_000,
      stake_per_depth: 500_000,
      slash_percentage: 0.1,
      cooldown_period_ms: 300_000,
    },
    proof: { generator: 'groth16', worker_threads: 8, queue_size: 2000, timeout_ms: 120_000, batch_size: 20 },
    limits: {
      max_memory_mb: 8192,
      max_pending_operations: 50_000,
      max_state_snapshots: 500,
      gc_interval_ms: 15_000,
      max_parents: 8,
    },
    features: {
      enable_parallel_speculation: true,
      enable_cross_agent_speculation: false,
      enable_optimistic_proofs: true,
      enable_stake_delegation: false,
      rollout_percentage: 0,
      // Not in the runbook's file: rollout targeting, none by default.
      rollout_target_agents: [],
      rollout_target_task_prefixes: [],
    },
    // Not in the runbook's file: adaptive speculation's defaults (the seed design's 1% / 5% rule).
    adaptive: {
      enabled: true,
      min_depth: 1,
      rollback_rate_low: 0.01,
      rollback_rate_high: 0.05,
      min_samples: 20,
      max_proof_backlog: 200,
      max_load_per_core: 4,
    },
    // Not in the runbook's file: the circuit breaker's defaults (the peer's troubleshooting guide).
    breaker: {
      enabled: true,
      max_own_faults: 10,
      own_fault_window_ms: 300_000,
      max_rollback_rate: 0.5,
      rollback_rate_window_ms: 120_000,
      min_samples: 20,
      max_memory_fraction: 0.95,
      max_proof_queue_fraction: 0.98,
      proof_queue_duration_ms: 300_000,
      cooldown_ms: 600_000,
    },
  },
};

/** Step 3: Validate Configuration, the expected output of `agenc config validate --config … --strict`. */
export const RUNBOOK_VALIDATE_LINES = [
  '✓ speculation.max_depth within range [1, 20]',
  '✓ speculation.stake.slash_percentage within range [0.01, 0.5]',
  '✓ speculation.proof.generator is valid',
  '✓ speculation.limits.max_memory_mb >= 512',
  '✓ Feature flag combinations are valid',
  'Configuration valid!',
];

/** Extracts the first fenced block of `lang` after the heading that starts with `heading`. */
export function runbookBlock(markdown: string, heading: string, lang: string): string {
  const start = markdown.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`runbook has no heading "${heading}"`);
  const fence = markdown.indexOf(`\`\`\`${lang}\n`, start);
  const end = markdown.indexOf('\n```', fence + 4 + lang.length);
  if (fence < 0 || end < 0) throw new Error(`runbook has no \`\`\`${lang} block after "${heading}"`);
  return markdown.slice(fence + 4 + lang.length, end + 1);
}

/** The runbook's Step 2 file as a raw (unresolved) object: a fresh copy each call. */
export function runbookRaw(): Record<string, unknown> {
  return parseToml(RUNBOOK_TOML) as Record<string, unknown>;
}

/** The runbook's file with one dotted key set (or, with `undefined`, removed). */
export function runbookWith(changes: Record<string, unknown>): Record<string, unknown> {
  const raw = runbookRaw();
  for (const [dotted, value] of Object.entries(changes)) {
    const parts = dotted.split('.');
    let cur = raw;
    for (const part of parts.slice(0, -1)) {
      cur[part] ??= {};
      cur = cur[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1] as string;
    if (value === undefined) delete cur[last];
    else cur[last] = value;
  }
  return raw;
}
