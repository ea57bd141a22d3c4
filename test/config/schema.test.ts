/**
 * config/schema.ts: the runbook's template, every range, the mode presets, --strict's unknown keys
 * and feature-flag rules, and dotted changes as the admin API sends them.
 */
import { readFileSync } from 'node:fs';
import {
  applyDottedChanges,
  CONFIG_KEYS,
  ConfigError,
  type ConfigProblem,
  DEFAULT_CONFIG,
  featureFlagProblems,
  formatProblem,
  MODE_PRESETS,
  parseConfig,
  parseConfigOrThrow,
  type SpeculationConfig,
  STAKE_DELEGATION_UNSUPPORTED,
} from '../../config/schema';
import {
  readRunbook,
  RUNBOOK_RESOLVED,
  RUNBOOK_TOML,
  runbookBlock,
  runbookRaw,
  runbookWith,
  TEMPLATE_FILE,
} from './runbook';

function problemsOf(raw: unknown, strict = false): ConfigProblem[] {
  const result = parseConfig(raw, { strict });
  if (result.ok) throw new Error(`expected ${JSON.stringify(raw)} to be rejected${strict ? ' under --strict' : ''}`);
  return result.problems;
}

function configOf(raw: unknown, strict = false): SpeculationConfig {
  const result = parseConfig(raw, { strict });
  if (!result.ok)
    throw new Error(`expected a valid configuration, got:\n${result.problems.map(formatProblem).join('\n')}`);
  return result.config;
}

/** Dotted leaf paths of a nested object. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe('the runbook template (Configuration Steps, Step 2)', () => {
  it('is exactly config/speculation-template.toml', () => {
    expect(readFileSync(TEMPLATE_FILE, 'utf8')).toBe(RUNBOOK_TOML);
  });

  it('matches the runbook document itself (../shared/spec)', () => {
    expect(runbookBlock(readRunbook(), '### Step 2', 'toml')).toBe(RUNBOOK_TOML);
  });

  it('is valid without --strict and resolves to the documented values', () => {
    expect(configOf(runbookRaw())).toEqual(RUNBOOK_RESOLVED);
  });

  it('is valid under --strict (no unknown keys, consistent feature flags) and resolves the same', () => {
    expect(configOf(runbookRaw(), true)).toEqual(RUNBOOK_RESOLVED);
    expect(featureFlagProblems(configOf(runbookRaw(), true))).toEqual([]);
  });

  it('names every key the schema knows, and the schema knows no other', () => {
    expect([...CONFIG_KEYS.keys()].sort()).toEqual(leafPaths(RUNBOOK_RESOLVED).sort());
    expect(CONFIG_KEYS.get('speculation.max_depth')).toBe('number');
    expect(CONFIG_KEYS.get('speculation.enabled')).toBe('boolean');
    expect(CONFIG_KEYS.get('speculation.mode')).toBe('string');
  });

  it('an empty file is valid: every key has a default, the mode defaults to conservative', () => {
    const config = configOf({}, true);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config.speculation.mode).toBe('conservative');
    expect(config.speculation).toMatchObject({
      max_depth: 3,
      max_parallel_branches: 2,
      confirmation_timeout_ms: 60_000,
      enabled: false,
    });
    expect(config.speculation.stake.slash_percentage).toBe(0.15);
  });
});

describe('a value out of its range is a problem naming the key path, the value and what is allowed', () => {
  const int = (min: number, max: number) => `is out of range: allowed an integer in [${min}, ${max}]`;
  const num = (min: number, max: number) => `is out of range: allowed a number in [${min}, ${max}]`;
  it.each<[string, unknown, string]>([
    ['speculation.max_depth', 0, int(1, 20)],
    ['speculation.max_depth', 21, int(1, 20)],
    ['speculation.max_parallel_branches', 0, int(1, 16)],
    ['speculation.max_parallel_branches', 17, int(1, 16)],
    ['speculation.stake.slash_percentage', 0.005, num(0.01, 0.5)],
    ['speculation.stake.slash_percentage', 0.6, num(0.01, 0.5)],
    ['speculation.features.rollout_percentage', -1, num(0, 100)],
    ['speculation.features.rollout_percentage', 101, num(0, 100)],
    ['speculation.proof.worker_threads', 0, int(1, 32)],
    ['speculation.proof.worker_threads', 33, int(1, 32)],
    ['speculation.proof.generator', 'plonk', 'must be one of "groth16"'],
    ['speculation.mode', 'reckless', 'must be one of "conservative", "balanced", "aggressive"'],
    ['speculation.max_depth', '5', 'must be a number (an integer in [1, 20])'],
    ['speculation.stake.slash_percentage', 'ten percent', 'must be a number (a number in [0.01, 0.5])'],
    ['speculation.max_depth', 2.5, 'must be a whole number (an integer in [1, 20])'],
    ['speculation.enabled', 'yes', 'must be true or false'],
    // A bond is an account: below the rent-exempt minimum of an empty one it could never be locked.
    ['speculation.stake.min_stake', 0, int(890_880, Number.MAX_SAFE_INTEGER)],
    ['speculation.stake.min_stake', 890_879, int(890_880, Number.MAX_SAFE_INTEGER)],
    // Rollout targeting: lists, each entry an agent name or a task-id prefix; the first bad entry is named.
    [
      'speculation.features.rollout_target_agents',
      'smoke',
      'must be a list of at most 100 agent names (lower-case letters, digits, _ and -, 1-32 characters), e.g. ["smoke"]',
    ],
    [
      'speculation.features.rollout_target_agents',
      ['smoke', 'Smoke Test'],
      'must be a list of at most 100 agent names (lower-case letters, digits, _ and -, 1-32 characters), e.g. ["smoke"] ("Smoke Test" is not one)',
    ],
    [
      'speculation.features.rollout_target_task_prefixes',
      ['smoke-', 7],
      'must be a list of at most 100 task-id prefixes (letters, digits, _ . and -, starting with a letter or digit, 1-64 characters), e.g. ["smoke"] (7 is not one)',
    ],
  ])('%s = %j', (key, value, message) => {
    const problems = problemsOf(runbookWith({ [key]: value }));
    expect(problems).toMatchObject([{ path: key, value, message }]);
    expect(problems.map(formatProblem)).toEqual([`${key} = ${JSON.stringify(value)} ${message}`]);
    // --strict reports the same problem (and nothing else: the rest of the file is the valid template).
    expect(problemsOf(runbookWith({ [key]: value }), true)).toMatchObject([{ path: key, value, message }]);
  });

  it('speculation.limits.max_memory_mb = 511 (the runbook: max_memory_mb >= 512)', () => {
    const problems = problemsOf(runbookWith({ 'speculation.limits.max_memory_mb': 511 }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'speculation.limits.max_memory_mb', value: 511 });
    expect(formatProblem(problems[0] as ConfigProblem)).toMatch(
      /^speculation\.limits\.max_memory_mb = 511 is out of range: allowed an integer (>= 512|in \[512, \d+\])$/,
    );
    expect(configOf(runbookWith({ 'speculation.limits.max_memory_mb': 512 })).speculation.limits.max_memory_mb).toBe(
      512,
    );
  });

  it('the bounds themselves are allowed', () => {
    const config = configOf(
      runbookWith({
        'speculation.max_depth': 20,
        'speculation.max_parallel_branches': 16,
        'speculation.stake.slash_percentage': 0.5,
        'speculation.proof.worker_threads': 32,
        'speculation.features.rollout_percentage': 100,
        'speculation.enabled': true,
      }),
      true,
    );
    expect(config.speculation).toMatchObject({ max_depth: 20, max_parallel_branches: 16 });
    expect(
      configOf(runbookWith({ 'speculation.max_depth': 1, 'speculation.stake.slash_percentage': 0.01 })).speculation
        .max_depth,
    ).toBe(1);
  });

  it('adaptive speculation: rollback_rate_low over rollback_rate_high is refused, naming both', () => {
    const problems = problemsOf(runbookWith({ 'speculation.adaptive.rollback_rate_low': 0.2 }));
    expect(problems.map((p) => formatProblem(p as ConfigProblem))).toEqual([
      'speculation.adaptive.rollback_rate_low = 0.2 must be <= speculation.adaptive.rollback_rate_high (0.05)',
    ]);
  });

  it('min_stake > max_stake names both keys and the max_stake it must not exceed', () => {
    const problems = problemsOf(runbookWith({ 'speculation.stake.min_stake': 2_000_000_000 }));
    expect(problems).toMatchObject([
      {
        path: 'speculation.stake.min_stake',
        value: 2_000_000_000,
        message: 'must be <= speculation.stake.max_stake (1000000000)',
      },
    ]);
    expect(formatProblem(problems[0] as ConfigProblem)).toBe(
      'speculation.stake.min_stake = 2000000000 must be <= speculation.stake.max_stake (1000000000)',
    );
    expect(configOf(runbookWith({ 'speculation.stake.min_stake': 1_000_000_000 })).speculation.stake.min_stake).toBe(
      1_000_000_000,
    );
  });

  it('every problem in a file is reported, not just the first', () => {
    const problems = problemsOf(
      runbookWith({
        'speculation.max_depth': 21,
        'speculation.proof.worker_threads': 0,
        'speculation.proof.generator': 'plonk',
      }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      'speculation.max_depth',
      'speculation.proof.generator',
      'speculation.proof.worker_threads',
    ]);
  });

  it('parseConfigOrThrow throws a ConfigError listing each problem under the source name', () => {
    const raw = runbookWith({ 'speculation.max_depth': 21 });
    expect(() => parseConfigOrThrow(raw, { source: 'prod.toml' })).toThrow(ConfigError);
    expect(() => parseConfigOrThrow(raw, { source: 'prod.toml' })).toThrow(
      'prod.toml is invalid:\n  - speculation.max_depth = 21 is out of range: allowed an integer in [1, 20]',
    );
  });
});

describe('mode presets', () => {
  it.each([
    ['conservative', 3, 2, 60_000, 0.15],
    ['balanced', 5, 4, 30_000, 0.1],
    ['aggressive', 10, 8, 15_000, 0.05],
  ] as const)(
    'mode = %s without explicit keys gives depth %d, branches %d, timeout %d ms, slash %d',
    (mode, depth, branches, timeout, slash) => {
      const { speculation } = configOf({ speculation: { mode } }, true);
      expect(speculation.mode).toBe(mode);
      expect(speculation.max_depth).toBe(depth);
      expect(speculation.max_parallel_branches).toBe(branches);
      expect(speculation.confirmation_timeout_ms).toBe(timeout);
      expect(speculation.stake.slash_percentage).toBe(slash);
      expect(MODE_PRESETS[mode]).toEqual({
        max_depth: depth,
        max_parallel_branches: branches,
        confirmation_timeout_ms: timeout,
        slash_percentage: slash,
      });
    },
  );

  it('explicit keys override the preset, key by key', () => {
    const { speculation } = configOf(
      { speculation: { mode: 'aggressive', max_depth: 2, stake: { slash_percentage: 0.2 } } },
      true,
    );
    expect(speculation.max_depth).toBe(2);
    expect(speculation.stake.slash_percentage).toBe(0.2);
    // The keys not given still come from the aggressive preset.
    expect(speculation.max_parallel_branches).toBe(8);
    expect(speculation.confirmation_timeout_ms).toBe(15_000);
  });

  it('the template with mode = "balanced" keeps its explicit values (explicit wins over preset)', () => {
    const { speculation } = configOf(runbookWith({ 'speculation.mode': 'balanced' }), true);
    expect(speculation).toMatchObject({
      mode: 'balanced',
      max_depth: 3,
      max_parallel_branches: 2,
      confirmation_timeout_ms: 60_000,
    });
    expect(speculation.stake.slash_percentage).toBe(0.1);
  });

  it('a preset value is still checked against feature flags (parallel off with the balanced 4 branches)', () => {
    const problems = problemsOf(
      { speculation: { mode: 'balanced', features: { enable_parallel_speculation: false } } },
      true,
    );
    expect(problems).toMatchObject([
      {
        path: 'speculation.max_parallel_branches',
        value: 4,
        message: 'must be 1 when speculation.features.enable_parallel_speculation = false',
      },
    ]);
  });
});

describe('--strict: unknown keys', () => {
  const unknownKey = (path: string, value: unknown) => ({
    path,
    value,
    message:
      'is not a known key (--strict rejects unknown keys; check the spelling against config/speculation-template.toml)',
  });

  it('rejects an unknown top-level table, naming it; without --strict it is ignored', () => {
    const raw = { ...runbookRaw(), monitoring: { port: 9090 } };
    expect(problemsOf(raw, true)).toMatchObject([unknownKey('monitoring', { port: 9090 })]);
    const config = configOf(raw);
    expect(config).toEqual(RUNBOOK_RESOLVED);
    expect(config).not.toHaveProperty('monitoring');
  });

  it.each([
    ['speculation.max_dept', 4],
    ['speculation.stake.slashing_percentage', 0.2],
    ['speculation.proof.threads', 4],
    ['speculation.limits.max_memory', 1024],
    ['speculation.features.enable_everything', true],
  ])('rejects %s inside a section, naming it; without --strict it is ignored', (path, value) => {
    const raw = runbookWith({ [path]: value });
    expect(problemsOf(raw, true)).toMatchObject([unknownKey(path, value)]);
    expect(formatProblem(problemsOf(raw, true)[0] as ConfigProblem)).toBe(
      `${path} = ${JSON.stringify(value)} is not a known key (--strict rejects unknown keys; check the spelling against config/speculation-template.toml)`,
    );
    expect(configOf(raw)).toEqual(RUNBOOK_RESOLVED);
  });
});

describe('--strict: feature-flag combinations, each named', () => {
  const parallel = {
    path: 'speculation.max_parallel_branches',
    value: 2,
    message: 'must be 1 when speculation.features.enable_parallel_speculation = false',
  };
  const rollout = {
    path: 'speculation.features.rollout_percentage',
    value: 5,
    message: 'has no effect while speculation.enabled = false (set it to 0, or enable speculation)',
  };

  it('parallel speculation disabled with more than one branch', () => {
    const raw = runbookWith({ 'speculation.features.enable_parallel_speculation': false });
    expect(problemsOf(raw, true)).toMatchObject([parallel]);
    expect(configOf(raw).speculation.max_parallel_branches).toBe(2);
    expect(
      configOf(
        runbookWith({
          'speculation.features.enable_parallel_speculation': false,
          'speculation.max_parallel_branches': 1,
        }),
        true,
      ),
    ).toBeDefined();
  });

  it('a rollout percentage above 0 while speculation is disabled', () => {
    const raw = runbookWith({ 'speculation.features.rollout_percentage': 5 });
    expect(problemsOf(raw, true)).toMatchObject([rollout]);
    expect(configOf(raw).speculation.features.rollout_percentage).toBe(5);
    expect(
      configOf(runbookWith({ 'speculation.features.rollout_percentage': 5, 'speculation.enabled': true }), true),
    ).toBeDefined();
  });

  it('both at once are both named', () => {
    const raw = runbookWith({
      'speculation.features.enable_parallel_speculation': false,
      'speculation.features.rollout_percentage': 5,
    });
    expect(problemsOf(raw, true)).toMatchObject([parallel, rollout]);
    expect(featureFlagProblems(configOf(raw))).toMatchObject([parallel, rollout]);
  });
});

describe('keys of features this release does not have', () => {
  it('enable_stake_delegation = true is refused as not supported, with or without --strict; false is accepted', () => {
    for (const [value, strict] of [
      [true, false],
      [true, true],
      ['yes', false],
    ] as const) {
      expect(problemsOf(runbookWith({ 'speculation.features.enable_stake_delegation': value }), strict)).toEqual([
        {
          path: 'speculation.features.enable_stake_delegation',
          value,
          message: STAKE_DELEGATION_UNSUPPORTED,
          kind: 'value',
        },
      ]);
    }
    expect(
      formatProblem(
        problemsOf(runbookWith({ 'speculation.features.enable_stake_delegation': true }))[0] as ConfigProblem,
      ),
    ).toBe(
      'speculation.features.enable_stake_delegation = true is not supported: this release has no stake delegation (an agent bonds only its own stake); set it to false or remove the key',
    );
    expect(
      configOf(runbookWith({ 'speculation.features.enable_stake_delegation': false }), true).speculation.features
        .enable_stake_delegation,
    ).toBe(false);
  });
});

describe('applyDottedChanges (the admin API shape)', () => {
  it('sets known dotted keys over the raw file, leaving the rest and the base untouched', () => {
    const base = runbookRaw();
    const result = applyDottedChanges(base, {
      'speculation.enabled': true,
      'speculation.features.rollout_percentage': 1.0,
    });
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(base).toEqual(runbookRaw());
    const config = configOf(result.raw, true);
    expect(config.speculation.enabled).toBe(true);
    expect(config.speculation.features.rollout_percentage).toBe(1);
    expect({
      ...config.speculation,
      enabled: false,
      features: { ...config.speculation.features, rollout_percentage: 0 },
    }).toEqual(RUNBOOK_RESOLVED.speculation);
  });

  it('creates the sections a key needs on an empty base', () => {
    const result = applyDottedChanges(undefined, { 'speculation.proof.worker_threads': 4 });
    expect(result).toEqual({ ok: true, raw: { speculation: { proof: { worker_threads: 4 } } } });
  });

  it('an unknown key is a problem naming it and listing the known keys; nothing is applied', () => {
    const result = applyDottedChanges(runbookRaw(), { 'speculation.max_dept': 4, 'speculation.enabled': true });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ path: 'speculation.max_dept', value: 4 });
    expect(result.problems[0]?.message).toMatch(/^is not a known key \(known keys: .*\bspeculation\.max_depth\b.*\)$/);
    expect(formatProblem(result.problems[0] as ConfigProblem)).toMatch(/^speculation\.max_dept = 4 is not a known key/);
  });

  it('a section is not a key', () => {
    const result = applyDottedChanges(runbookRaw(), { 'speculation.stake': { min_stake: 1 } });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.path)).toEqual(['speculation.stake']);
  });

  it('a known key with a bad value passes through and the schema then names it', () => {
    const result = applyDottedChanges(runbookRaw(), { 'speculation.max_depth': 50 });
    if (!result.ok) throw new Error('expected the change to apply');
    expect(problemsOf(result.raw).map(formatProblem)).toEqual([
      'speculation.max_depth = 50 is out of range: allowed an integer in [1, 20]',
    ]);
  });

  it('a mode change brings the new preset for keys the file does not set', () => {
    const base = { speculation: { enabled: true, mode: 'conservative' } };
    expect(configOf(base).speculation.max_depth).toBe(3);
    const result = applyDottedChanges(base, { 'speculation.mode': 'aggressive' });
    if (!result.ok) throw new Error('expected the change to apply');
    const { speculation } = configOf(result.raw, true);
    expect(speculation).toMatchObject({
      mode: 'aggressive',
      max_depth: 10,
      max_parallel_branches: 8,
      confirmation_timeout_ms: 15_000,
    });
    expect(speculation.stake.slash_percentage).toBe(0.05);

    const balanced = applyDottedChanges(result.raw, { 'speculation.mode': 'balanced' });
    if (!balanced.ok) throw new Error('expected the change to apply');
    expect(configOf(balanced.raw).speculation).toMatchObject({
      mode: 'balanced',
      max_depth: 5,
      max_parallel_branches: 4,
      confirmation_timeout_ms: 30_000,
    });
  });

  it('a mode change keeps keys the file sets explicitly', () => {
    const result = applyDottedChanges(runbookRaw(), { 'speculation.mode': 'aggressive' });
    if (!result.ok) throw new Error('expected the change to apply');
    const { speculation } = configOf(result.raw, true);
    expect(speculation).toMatchObject({
      mode: 'aggressive',
      max_depth: 3,
      max_parallel_branches: 2,
      confirmation_timeout_ms: 60_000,
    });
  });
});
