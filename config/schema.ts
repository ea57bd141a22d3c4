/**
 * The one source of truth for the speculation configuration: every key, its type, default, range and
 * the message a person reads when a value is wrong. The TOML loader, the `AGENC_SPECULATION_*`
 * environment overrides, the admin API, the `speculationControl` workflow's update validator and
 * `agenc config validate` all go through this module.
 *
 * Imported by workflow code: no Node built-ins here.
 */
import { z } from 'zod';
import { AGENT_NAME_PATTERN, MAX_PARENT_SLOTS, TASK_ID_PATTERN } from '../shared/task-model';

export const MODES = ['conservative', 'balanced', 'aggressive'] as const;
export type Mode = (typeof MODES)[number];
/**
 * What a task's failure does to its descendants: `cascade` rolls back every descendant through every edge;
 * `selective` only those that consumed the failed result (data and confirmed edges, transitively), while an
 * order-only dependent goes on once the failed task is final; `checkpoint` rolls back as `cascade`, then
 * re-attempts the task (up to `max_retries`, waiting `retry_backoff_ms`, doubling) when its reason may pass,
 * and restarts its rolled-back descendants on the new result.
 */
export const ROLLBACK_POLICIES = ['cascade', 'selective', 'checkpoint'] as const;
export type RollbackPolicy = (typeof ROLLBACK_POLICIES)[number];
export const PROOF_GENERATORS = ['groth16'] as const;

/** Keys whose default depends on `mode`. An explicit value in the file or environment wins over the preset. */
export const MODE_PRESETS: Record<
  Mode,
  {
    max_depth: number;
    max_parallel_branches: number;
    confirmation_timeout_ms: number;
    slash_percentage: number;
  }
> = {
  conservative: { max_depth: 3, max_parallel_branches: 2, confirmation_timeout_ms: 60_000, slash_percentage: 0.15 },
  balanced: { max_depth: 5, max_parallel_branches: 4, confirmation_timeout_ms: 30_000, slash_percentage: 0.1 },
  aggressive: { max_depth: 10, max_parallel_branches: 8, confirmation_timeout_ms: 15_000, slash_percentage: 0.05 },
};

/** A numeric bound, kept beside the schema so `config validate` can print the check it made. */
export interface NumericRule {
  path: string;
  min?: number;
  max?: number;
  integer: boolean;
}
export const NUMERIC_RULES: NumericRule[] = [];

function numberIn(path: string, opts: { min?: number; max?: number; integer?: boolean }) {
  const integer = opts.integer ?? true;
  if (!NUMERIC_RULES.some((r) => r.path === path)) NUMERIC_RULES.push({ path, min: opts.min, max: opts.max, integer });
  const allowed = describeRange(opts.min, opts.max, integer);
  let schema = z.number({
    invalid_type_error: `must be a number (${allowed})`,
    required_error: `is required (${allowed})`,
  });
  if (integer) schema = schema.int({ message: `must be a whole number (${allowed})` });
  if (opts.min !== undefined) schema = schema.min(opts.min, { message: `is out of range: allowed ${allowed}` });
  if (opts.max !== undefined) schema = schema.max(opts.max, { message: `is out of range: allowed ${allowed}` });
  return schema;
}

export function describeRange(min: number | undefined, max: number | undefined, integer: boolean): string {
  const kind = integer ? 'an integer' : 'a number';
  if (min !== undefined && max !== undefined) return `${kind} in [${min}, ${max}]`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

function oneOf<T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    errorMap: () => ({ message: `must be one of ${values.map((v) => `"${v}"`).join(', ')}` }),
  });
}

export const STAKE_DELEGATION_UNSUPPORTED =
  'is not supported: this release has no stake delegation (an agent bonds only its own stake); set it to false or remove the key';

const bool = () => z.boolean({ invalid_type_error: 'must be true or false' });

/** A TOML array of strings, each matching `pattern`: a problem names the key and the first entry that is not one. */
function listOf(what: string, pattern: RegExp, maxItems: number) {
  const allowed = `a list of at most ${maxItems} ${what}, e.g. ["smoke"]`;
  return z
    .array(z.unknown(), { invalid_type_error: `must be ${allowed}` })
    .superRefine((items, ctx) => {
      if (items.length > maxItems)
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be ${allowed} (it has ${items.length})` });
      const bad = items.find((item) => typeof item !== 'string' || !pattern.test(item));
      if (bad !== undefined)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `must be ${allowed} (${JSON.stringify(bad)} is not one)`,
        });
    })
    .transform((items) => items as string[]);
}

/** A TOML table: anything else (a number, a string, null) is named as what it is not. */
const table = <T extends z.ZodRawShape>(header: string, shape: T) =>
  z.object(shape, { invalid_type_error: `must be a table (${header})`, required_error: `is required (${header})` });

/**
 * A bond is an account of its own, so it holds at least the rent-exempt minimum of an empty account
 * (890,880 lamports under Solana's default rent): a smaller bond could never be locked.
 */
export const BOND_ACCOUNT_RENT_MINIMUM = 890_880;
const LAMPORTS_MAX = Number.MAX_SAFE_INTEGER;

const stakeSection = table('[speculation.stake]', {
  min_stake: numberIn('speculation.stake.min_stake', { min: BOND_ACCOUNT_RENT_MINIMUM, max: LAMPORTS_MAX }).default(
    1_000_000,
  ),
  max_stake: numberIn('speculation.stake.max_stake', { min: BOND_ACCOUNT_RENT_MINIMUM, max: LAMPORTS_MAX }).default(
    1_000_000_000,
  ),
  stake_per_depth: numberIn('speculation.stake.stake_per_depth', { min: 0, max: LAMPORTS_MAX }).default(500_000),
  slash_percentage: numberIn('speculation.stake.slash_percentage', { min: 0.01, max: 0.5, integer: false }).optional(),
  cooldown_period_ms: numberIn('speculation.stake.cooldown_period_ms', { min: 0, max: 86_400_000 }).default(300_000),
});

const proofSection = table('[speculation.proof]', {
  generator: oneOf(PROOF_GENERATORS).default('groth16'),
  worker_threads: numberIn('speculation.proof.worker_threads', { min: 1, max: 32 }).default(8),
  queue_size: numberIn('speculation.proof.queue_size', { min: 1, max: 1_000_000 }).default(2000),
  timeout_ms: numberIn('speculation.proof.timeout_ms', { min: 1000, max: 3_600_000 }).default(120_000),
  batch_size: numberIn('speculation.proof.batch_size', { min: 1, max: 1000 }).default(20),
});

const limitsSection = table('[speculation.limits]', {
  max_memory_mb: numberIn('speculation.limits.max_memory_mb', { min: 512 }).default(8192),
  max_pending_operations: numberIn('speculation.limits.max_pending_operations', { min: 1, max: 10_000_000 }).default(
    50_000,
  ),
  max_state_snapshots: numberIn('speculation.limits.max_state_snapshots', { min: 1, max: 1_000_000 }).default(500),
  gc_interval_ms: numberIn('speculation.limits.gc_interval_ms', { min: 100, max: 3_600_000 }).default(15_000),
  // At most the join circuit's parent slots: a proof names every parent whose output the task consumed.
  max_parents: numberIn('speculation.limits.max_parents', { min: 1, max: MAX_PARENT_SLOTS }).default(8),
});

const featuresSection = table('[speculation.features]', {
  enable_parallel_speculation: bool().default(true),
  enable_cross_agent_speculation: bool().default(false),
  enable_optimistic_proofs: bool().default(true),
  // Not built: accepted only as false, so a file asking for delegation is refused rather than silently ignored.
  enable_stake_delegation: z
    .literal(false, { errorMap: () => ({ message: STAKE_DELEGATION_UNSUPPORTED }) })
    .default(false),
  rollout_percentage: numberIn('speculation.features.rollout_percentage', { min: 0, max: 100, integer: false }).default(
    0,
  ),
  // Targeting: tasks of these agents, or whose ids start with one of these prefixes, are inside the rollout
  // at any percentage (test traffic such as the smoke tests' during a canary). Every other limit still applies.
  rollout_target_agents: listOf(
    'agent names (lower-case letters, digits, _ and -, 1-32 characters)',
    AGENT_NAME_PATTERN,
    100,
  ).default([]),
  rollout_target_task_prefixes: listOf(
    'task-id prefixes (letters, digits, _ . and -, starting with a letter or digit, 1-64 characters)',
    TASK_ID_PATTERN,
    100,
  ).default([]),
});

/**
 * Adaptive speculation (workflows/control-decisions.ts `adaptDepth`, `adaptiveRefusal`): the depth follows
 * the recent rollback rate, and a saturated system (proof backlog, CPU load) speculates no deeper than
 * `min_depth`, the floor the operator sets. Defaults from the seed design (under 1% → depth + 1, over 5% →
 * depth − 1).
 */
const adaptiveSection = table('[speculation.adaptive]', {
  enabled: bool().default(true),
  min_depth: numberIn('speculation.adaptive.min_depth', { min: 1, max: 20 }).default(1),
  rollback_rate_low: numberIn('speculation.adaptive.rollback_rate_low', { min: 0, max: 1, integer: false }).default(
    0.01,
  ),
  rollback_rate_high: numberIn('speculation.adaptive.rollback_rate_high', { min: 0, max: 1, integer: false }).default(
    0.05,
  ),
  min_samples: numberIn('speculation.adaptive.min_samples', { min: 1, max: 10_000 }).default(20),
  max_proof_backlog: numberIn('speculation.adaptive.max_proof_backlog', { min: 1, max: 10_000_000 }).default(200),
  max_load_per_core: numberIn('speculation.adaptive.max_load_per_core', {
    min: 0.1,
    max: 1000,
    integer: false,
  }).default(4),
});

/**
 * The circuit breaker (workflows/breaker-decisions.ts): speculation switches itself off on a failure storm
 * outside any rollout, for `cooldown_ms` or until an operator re-enables it. Defaults from the peer system's
 * troubleshooting guide: 10 own-fault failures in 5 min, rollback rate over 50% for 2 min, memory over 95%,
 * proof queue over 98% for 5 min.
 */
const breakerSection = table('[speculation.breaker]', {
  enabled: bool().default(true),
  max_own_faults: numberIn('speculation.breaker.max_own_faults', { min: 1, max: 10_000 }).default(10),
  own_fault_window_ms: numberIn('speculation.breaker.own_fault_window_ms', { min: 1000, max: 86_400_000 }).default(
    300_000,
  ),
  max_rollback_rate: numberIn('speculation.breaker.max_rollback_rate', { min: 0.01, max: 1, integer: false }).default(
    0.5,
  ),
  rollback_rate_window_ms: numberIn('speculation.breaker.rollback_rate_window_ms', {
    min: 1000,
    max: 86_400_000,
  }).default(120_000),
  min_samples: numberIn('speculation.breaker.min_samples', { min: 1, max: 1_000_000 }).default(20),
  max_memory_fraction: numberIn('speculation.breaker.max_memory_fraction', {
    min: 0.1,
    max: 1,
    integer: false,
  }).default(0.95),
  max_proof_queue_fraction: numberIn('speculation.breaker.max_proof_queue_fraction', {
    min: 0.1,
    max: 1,
    integer: false,
  }).default(0.98),
  proof_queue_duration_ms: numberIn('speculation.breaker.proof_queue_duration_ms', {
    min: 0,
    max: 86_400_000,
  }).default(300_000),
  cooldown_ms: numberIn('speculation.breaker.cooldown_ms', { min: 1000, max: 86_400_000 }).default(600_000),
});

/** Builds the file schema; `strict` rejects keys the schema does not know. */
function fileSchema(strict: boolean) {
  const section = <T extends z.ZodRawShape>(shape: z.ZodObject<T>) => (strict ? shape.strict() : shape.strip());
  const speculation = table('[speculation]', {
    enabled: bool().default(false),
    mode: oneOf(MODES).default('conservative'),
    max_depth: numberIn('speculation.max_depth', { min: 1, max: 20 }).optional(),
    max_parallel_branches: numberIn('speculation.max_parallel_branches', { min: 1, max: 16 }).optional(),
    confirmation_timeout_ms: numberIn('speculation.confirmation_timeout_ms', { min: 1000, max: 86_400_000 }).optional(),
    rollback_policy: oneOf(ROLLBACK_POLICIES).default('cascade'),
    // A task with a deadline speculates only while more than this is left of it (the seed design's claimBufferMs).
    claim_buffer_ms: numberIn('speculation.claim_buffer_ms', { min: 0, max: 86_400_000 }).default(30_000),
    // Under rollback_policy = "checkpoint": re-attempts after the first, and the wait before the first (doubling).
    max_retries: numberIn('speculation.max_retries', { min: 0, max: 10 }).default(2),
    retry_backoff_ms: numberIn('speculation.retry_backoff_ms', { min: 0, max: 3_600_000 }).default(1000),
    stake: section(stakeSection).default({}),
    proof: section(proofSection).default({}),
    limits: section(limitsSection).default({}),
    features: section(featuresSection).default({}),
    adaptive: section(adaptiveSection).default({}),
    breaker: section(breakerSection).default({}),
  });
  return section(table('a document with a [speculation] section', { speculation: section(speculation).default({}) }));
}

// Built once: the builders above also record NUMERIC_RULES, which must hold each key once.
const lenientFileSchema = fileSchema(false);
const strictFileSchema = fileSchema(true);

type ParsedFile = z.infer<typeof lenientFileSchema>;

/** The resolved configuration: presets applied, every key present. */
export interface SpeculationConfig {
  speculation: Omit<
    ParsedFile['speculation'],
    'max_depth' | 'max_parallel_branches' | 'confirmation_timeout_ms' | 'stake'
  > & {
    max_depth: number;
    max_parallel_branches: number;
    confirmation_timeout_ms: number;
    stake: Omit<ParsedFile['speculation']['stake'], 'slash_percentage'> & { slash_percentage: number };
  };
}
export type StakeConfig = SpeculationConfig['speculation']['stake'];
export type ProofConfig = SpeculationConfig['speculation']['proof'];
export type LimitsConfig = SpeculationConfig['speculation']['limits'];
export type FeaturesConfig = SpeculationConfig['speculation']['features'];
export type AdaptiveConfig = SpeculationConfig['speculation']['adaptive'];

/**
 * One problem with a configuration, as a person reads it. `kind` says which rule it broke: a key's
 * own type or range, a rule between keys, a feature-flag combination, or an unknown key.
 */
export interface ConfigProblem {
  path: string;
  value: unknown;
  message: string;
  kind: 'value' | 'cross_key' | 'feature_flag' | 'unknown_key';
}

export class ConfigError extends Error {
  constructor(
    public readonly problems: ConfigProblem[],
    public readonly source = 'configuration',
  ) {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  const value = p.value === undefined ? '' : ` = ${JSON.stringify(p.value)}`;
  return `${p.path}${value} ${p.message}`;
}

function valueAt(raw: unknown, path: (string | number)[]): unknown {
  let cur: unknown = raw;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

function zodProblems(raw: unknown, error: z.ZodError): ConfigProblem[] {
  return error.issues.flatMap((issue): ConfigProblem[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: [...issue.path, key].join('.'),
        value: valueAt(raw, [...issue.path, key]),
        message:
          'is not a known key (--strict rejects unknown keys; check the spelling against config/speculation-template.toml)',
        kind: 'unknown_key' as const,
      }));
    }
    // An empty path is the document itself (an Update or API call can send something that is not a table).
    const path = issue.path.length ? issue.path.join('.') : 'configuration';
    return [{ path, value: valueAt(raw, issue.path), message: issue.message, kind: 'value' as const }];
  });
}

function applyPreset(parsed: ParsedFile): SpeculationConfig {
  const s = parsed.speculation;
  const preset = MODE_PRESETS[s.mode];
  return {
    speculation: {
      ...s,
      max_depth: s.max_depth ?? preset.max_depth,
      max_parallel_branches: s.max_parallel_branches ?? preset.max_parallel_branches,
      confirmation_timeout_ms: s.confirmation_timeout_ms ?? preset.confirmation_timeout_ms,
      stake: { ...s.stake, slash_percentage: s.stake.slash_percentage ?? preset.slash_percentage },
    },
  };
}

/** Rules that hold between keys; always checked. */
function crossKeyProblems(config: SpeculationConfig): ConfigProblem[] {
  const { stake } = config.speculation;
  const problems: ConfigProblem[] = [];
  if (stake.min_stake > stake.max_stake) {
    problems.push({
      path: 'speculation.stake.min_stake',
      value: stake.min_stake,
      message: `must be <= speculation.stake.max_stake (${stake.max_stake})`,
      kind: 'cross_key',
    });
  }
  const { adaptive } = config.speculation;
  if (adaptive.rollback_rate_low > adaptive.rollback_rate_high) {
    problems.push({
      path: 'speculation.adaptive.rollback_rate_low',
      value: adaptive.rollback_rate_low,
      message: `must be <= speculation.adaptive.rollback_rate_high (${adaptive.rollback_rate_high})`,
      kind: 'cross_key',
    });
  }
  return problems;
}

/** Feature-flag combinations that make no sense together; checked under --strict and by the control workflow. */
export function featureFlagProblems(config: SpeculationConfig): ConfigProblem[] {
  const s = config.speculation;
  const f = s.features;
  const problems: ConfigProblem[] = [];
  if (!f.enable_parallel_speculation && s.max_parallel_branches > 1) {
    problems.push({
      path: 'speculation.max_parallel_branches',
      value: s.max_parallel_branches,
      message: 'must be 1 when speculation.features.enable_parallel_speculation = false',
      kind: 'feature_flag',
    });
  }
  if (!s.enabled && f.rollout_percentage > 0) {
    problems.push({
      path: 'speculation.features.rollout_percentage',
      value: f.rollout_percentage,
      message: 'has no effect while speculation.enabled = false (set it to 0, or enable speculation)',
      kind: 'feature_flag',
    });
  }
  return problems;
}

export type ParseResult = { ok: true; config: SpeculationConfig } | { ok: false; problems: ConfigProblem[] };

/**
 * Validates a raw configuration object (from TOML, JSON or the environment) and resolves presets.
 * Every problem is reported at once: values and rules between keys always; under `strict` also
 * unknown keys and feature-flag combinations (checked whenever the values themselves parse).
 */
export function parseConfig(raw: unknown, opts: { strict?: boolean } = {}): ParseResult {
  const lenient = lenientFileSchema.safeParse(raw);
  const problems: ConfigProblem[] = lenient.success ? [] : zodProblems(raw, lenient.error);
  if (opts.strict) {
    const strict = strictFileSchema.safeParse(raw);
    if (!strict.success) problems.push(...zodProblems(raw, strict.error).filter((p) => p.kind === 'unknown_key'));
  }
  if (!lenient.success) return { ok: false, problems };
  const config = applyPreset(lenient.data);
  problems.push(...crossKeyProblems(config), ...(opts.strict ? featureFlagProblems(config) : []));
  return problems.length ? { ok: false, problems } : { ok: true, config };
}

export function parseConfigOrThrow(raw: unknown, opts: { strict?: boolean; source?: string } = {}): SpeculationConfig {
  const result = parseConfig(raw, opts);
  if (!result.ok) throw new ConfigError(result.problems, opts.source);
  return result.config;
}

export const DEFAULT_CONFIG: SpeculationConfig = parseConfigOrThrow({});

/** Every leaf key of the file, as dotted paths (`speculation.stake.min_stake`), with the kind of value it takes. */
export type LeafKind = 'number' | 'boolean' | 'string' | 'list';
export const CONFIG_KEYS: ReadonlyMap<string, LeafKind> = (() => {
  const keys = new Map<string, LeafKind>();
  const walk = (value: unknown, prefix: string) => {
    if (Array.isArray(value)) keys.set(prefix, 'list');
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else {
      keys.set(prefix, typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'string');
    }
  };
  walk(DEFAULT_CONFIG, '');
  return keys;
})();

/** A configuration as the dotted keys `POST /admin/config` takes (`{"speculation.stake.min_stake": 1000000}`). */
export function dottedKeys(config: SpeculationConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (value: unknown, prefix: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else out[prefix] = value;
  };
  walk(config, '');
  return out;
}

/** Sets `a.b.c` in a nested object, creating the sections on the way. */
export function setAtPath(target: Record<string, unknown>, dottedKey: string, value: unknown): void {
  const parts = dottedKey.split('.');
  let cur = target;
  for (const part of parts.slice(0, -1)) {
    if (cur[part] === null || typeof cur[part] !== 'object') cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] as string] = value;
}

/**
 * Turns dotted keys (`{"speculation.enabled": true}`, as the runbook's admin calls send them) into
 * the nested shape, over a raw (unresolved) configuration, so a later `mode` change still brings its
 * preset. Unknown keys are problems, never silently dropped.
 */
export function applyDottedChanges(
  baseRaw: unknown,
  changes: Record<string, unknown>,
): { ok: true; raw: Record<string, unknown> } | { ok: false; problems: ConfigProblem[] } {
  const raw = JSON.parse(JSON.stringify(baseRaw ?? {})) as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  for (const [path, value] of Object.entries(changes)) {
    if (!CONFIG_KEYS.has(path)) {
      problems.push({
        path,
        value,
        message: `is not a known key (known keys: ${[...CONFIG_KEYS.keys()].join(', ')})`,
        kind: 'unknown_key',
      });
      continue;
    }
    setAtPath(raw, path, value);
  }
  return problems.length ? { ok: false, problems } : { ok: true, raw };
}

/** Removes `a.b.c` from a nested object (a missing section is fine). */
function deleteAtPath(target: Record<string, unknown>, dottedKey: string): void {
  const parts = dottedKey.split('.');
  let cur: unknown = target;
  for (const part of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur !== null && typeof cur === 'object')
    delete (cur as Record<string, unknown>)[parts[parts.length - 1] as string];
}

/**
 * A stored configuration loaded under the current schema without ever throwing: each key the schema now
 * refuses falls back to its default, and the keys dropped are returned for the caller to report. For
 * state written by an older build (the control workflow's history, its continue-as-new input), where a
 * deploy that narrowed a range must not wedge the workflow that holds it.
 */
export function coerceConfig(raw: unknown): {
  raw: Record<string, unknown>;
  config: SpeculationConfig;
  dropped: ConfigProblem[];
} {
  const kept = JSON.parse(
    JSON.stringify(raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}),
  ) as Record<string, unknown>;
  const dropped: ConfigProblem[] = [];
  // Each round drops at least one key, so this ends; the bound only guards against a schema bug.
  for (let round = 0; round < CONFIG_KEYS.size + 1; round++) {
    const result = parseConfig(kept);
    if (result.ok) return { raw: kept, config: result.config, dropped };
    const before = JSON.stringify(kept);
    for (const problem of result.problems) {
      dropped.push(problem);
      deleteAtPath(kept, problem.path);
    }
    if (JSON.stringify(kept) === before) break;
  }
  dropped.push({
    path: 'speculation',
    value: raw,
    message: 'could not be loaded under the current schema; the defaults apply',
    kind: 'value',
  });
  return { raw: {}, config: DEFAULT_CONFIG, dropped };
}
