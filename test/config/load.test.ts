/**
 * config/load.ts: TOML files (syntax errors by file, line and column) and `AGENC_SPECULATION_*`
 * environment overrides. The environment is always passed explicitly; process.env is never touched.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  applyEnvOverrides,
  envNameFor,
  loadConfig,
  parseTomlText,
  readTomlFile,
  TEMPLATE_PATH,
  TomlSyntaxError,
} from '../../config/load';
import { ConfigError, type ConfigProblem, CONFIG_KEYS } from '../../config/schema';
import { RUNBOOK_RESOLVED, RUNBOOK_TOML, TEMPLATE_FILE } from './runbook';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'agenc-config-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The template with line `n` (1-based) replaced. */
function templateWithLine(n: number, text: string): string {
  const lines = RUNBOOK_TOML.split('\n');
  if (lines[n - 1] === undefined) throw new Error(`the template has no line ${n}`);
  lines[n - 1] = text;
  return lines.join('\n');
}

/** The error `fn` throws, which must be an `errorClass`; any other error propagates as is. */
function thrownBy<E extends Error>(errorClass: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof errorClass) return err;
    throw err;
  }
  throw new Error(`expected a ${errorClass.name}`);
}
const syntaxErrorOf = (fn: () => unknown) => thrownBy(TomlSyntaxError, fn);
const configErrorOf = (fn: () => unknown) => thrownBy(ConfigError, fn);

/** Line and column point into the file: the line named, a column on (or just past the end of) that line. */
function expectAt(err: TomlSyntaxError, file: string, text: string, line: number): void {
  expect({ file: err.file, line: err.line }).toEqual({ file, line });
  const lineText = text.split('\n')[line - 1] ?? '';
  expect(err.column).toBeGreaterThanOrEqual(1);
  expect(err.column).toBeLessThanOrEqual(lineText.length + 1);
  expect(err.message).toMatch(
    new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:${err.column}: TOML syntax error: \\S`),
  );
}

describe('loading the template', () => {
  it('TEMPLATE_PATH is config/speculation-template.toml and loads to the runbook values, strict, with no environment', () => {
    expect(TEMPLATE_PATH).toBe(TEMPLATE_FILE);
    const loaded = loadConfig({ file: TEMPLATE_PATH, strict: true, env: {} });
    expect(loaded.file).toBe(TEMPLATE_PATH);
    expect(loaded.config).toEqual(RUNBOOK_RESOLVED);
    expect(loaded.envApplied).toEqual([]);
    // The raw form keeps what the file says, before presets (underscored integers read as numbers).
    expect(loaded.raw).toEqual(readTomlFile(TEMPLATE_PATH));
    expect((loaded.raw.speculation as { stake: { min_stake: unknown } }).stake.min_stake).toBe(1_000_000);
  });

  it('ignores environment variables outside AGENC_SPECULATION_*', () => {
    const loaded = loadConfig({
      file: TEMPLATE_PATH,
      strict: true,
      env: { AGENC_AGENT: 'alice', AGENC_CONFIG: '/elsewhere.toml', SPECULATION_MAX_DEPTH: '9', PATH: '/usr/bin' },
    });
    expect(loaded.config).toEqual(RUNBOOK_RESOLVED);
    expect(loaded.envApplied).toEqual([]);
  });
});

describe('TOML syntax errors name file, line and column', () => {
  it('a broken table header ([speculation.stake without the bracket) on line 9 of the template', () => {
    const text = templateWithLine(9, '[speculation.stake');
    const file = write('broken-header.toml', text);
    const err = syntaxErrorOf(() => loadConfig({ file, env: {} }));
    expectAt(err, file, text, 9);
  });

  it('a broken table header in a small file, line 4', () => {
    const text = '[speculation]\nenabled = false\n\n[speculation.limits\nmax_memory_mb = 1024\n';
    expectAt(
      syntaxErrorOf(() => parseTomlText(text, 'small.toml')),
      'small.toml',
      text,
      4,
    );
  });

  it('an unterminated string on line 7 of the template (rollback_policy = "cascade)', () => {
    const text = templateWithLine(7, 'rollback_policy = "cascade');
    const file = write('unterminated-7.toml', text);
    const err = syntaxErrorOf(() => readTomlFile(file));
    expectAt(err, file, text, 7);
    expect(err.message).toMatch(/TOML syntax error: .* in strings/);
  });

  // Both are reported at the end of the document by smol-toml 1.6.0 (line 8 and line 34): with no later
  // quote in the file, its string scan runs off the end. smol-toml 1.9.1 reports the right line.
  it('an unterminated string on line 7 with no later quote in the file', () => {
    const text = [
      '[speculation]',
      'enabled = false',
      'max_depth = 3',
      'max_parallel_branches = 2',
      'confirmation_timeout_ms = 60000',
      '[speculation.proof]',
      'generator = "groth16',
      'worker_threads = 8',
      '',
    ].join('\n');
    const file = write('unterminated-last.toml', text);
    expectAt(
      syntaxErrorOf(() => readTomlFile(file)),
      file,
      text,
      7,
    );
  });

  it("an unterminated string on the template's generator line (line 17, the last quote in the file)", () => {
    const text = templateWithLine(17, 'generator = "groth16');
    const file = write('unterminated-17.toml', text);
    expectAt(
      syntaxErrorOf(() => readTomlFile(file)),
      file,
      text,
      17,
    );
  });

  it.each([
    [4, 'max_depth = = 3'],
    [10, 'min_stake = 1_000_000_'],
    [1, '[speculation]]'],
  ])('line %d: %s', (line, broken) => {
    const text = templateWithLine(line, broken);
    expectAt(
      syntaxErrorOf(() => parseTomlText(text, 'prod.toml')),
      'prod.toml',
      text,
      line,
    );
  });
});

describe('AGENC_SPECULATION_* environment overrides', () => {
  it('maps dotted keys to variable names', () => {
    expect(envNameFor('speculation.max_depth')).toBe('AGENC_SPECULATION_MAX_DEPTH');
    expect(envNameFor('speculation.features.rollout_percentage')).toBe('AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE');
    expect(envNameFor('speculation.enabled')).toBe('AGENC_SPECULATION_ENABLED');
    // Every key has one, and no two keys share one.
    expect(new Set([...CONFIG_KEYS.keys()].map(envNameFor)).size).toBe(CONFIG_KEYS.size);
  });

  it('AGENC_SPECULATION_MAX_DEPTH=7 overrides the file', () => {
    const loaded = loadConfig({ file: TEMPLATE_PATH, strict: true, env: { AGENC_SPECULATION_MAX_DEPTH: '7' } });
    expect(loaded.config.speculation.max_depth).toBe(7);
    expect(loaded.envApplied).toEqual(['AGENC_SPECULATION_MAX_DEPTH']);
    expect((loaded.raw.speculation as Record<string, unknown>).max_depth).toBe(7);
    expect({ ...loaded.config.speculation, max_depth: 3 }).toEqual(RUNBOOK_RESOLVED.speculation);
  });

  it('a list key from the environment is comma-separated: AGENC_SPECULATION_FEATURES_ROLLOUT_TARGET_AGENTS=smoke, canary', () => {
    const env = { AGENC_SPECULATION_FEATURES_ROLLOUT_TARGET_AGENTS: 'smoke, canary' };
    expect(loadConfig({ file: TEMPLATE_PATH, env }).config.speculation.features.rollout_target_agents).toEqual([
      'smoke',
      'canary',
    ]);
    expect(
      loadConfig({ file: TEMPLATE_PATH, env: { AGENC_SPECULATION_FEATURES_ROLLOUT_TARGET_AGENTS: '' } }).config
        .speculation.features.rollout_target_agents,
    ).toEqual([]);
    const err = configErrorOf(() =>
      loadConfig({
        file: TEMPLATE_PATH,
        env: { AGENC_SPECULATION_FEATURES_ROLLOUT_TARGET_AGENTS: 'smoke,Not An Agent' },
      }),
    );
    expect(err.problems).toMatchObject([
      { path: 'speculation.features.rollout_target_agents', value: ['smoke', 'Not An Agent'] },
    ]);
  });

  it('AGENC_SPECULATION_ENABLED=true with AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE=5 (the canary phase) is valid strict', () => {
    const env = { AGENC_SPECULATION_ENABLED: 'true', AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE: '5' };
    const loaded = loadConfig({ file: TEMPLATE_PATH, strict: true, env });
    expect(loaded.config.speculation.enabled).toBe(true);
    expect(loaded.config.speculation.features.rollout_percentage).toBe(5);
    expect([...loaded.envApplied].sort()).toEqual([
      'AGENC_SPECULATION_ENABLED',
      'AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE',
    ]);
  });

  it('the rollout override alone, speculation still disabled: fine without --strict, a named feature-flag problem with it', () => {
    const env = { AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE: '5' };
    expect(loadConfig({ file: TEMPLATE_PATH, env }).config.speculation.features.rollout_percentage).toBe(5);
    const err = configErrorOf(() => loadConfig({ file: TEMPLATE_PATH, strict: true, env }));
    expect(err.problems).toMatchObject([
      {
        path: 'speculation.features.rollout_percentage',
        value: 5,
        message: 'has no effect while speculation.enabled = false (set it to 0, or enable speculation)',
      },
    ]);
  });

  it('string and underscored numeric values: AGENC_SPECULATION_MODE over a file without explicit keys brings the preset', () => {
    const file = write('mode-only.toml', '[speculation]\nmode = "conservative"\n');
    const loaded = loadConfig({
      file,
      strict: true,
      env: { AGENC_SPECULATION_MODE: 'aggressive', AGENC_SPECULATION_STAKE_MIN_STAKE: '2_000_000' },
    });
    expect(loaded.config.speculation).toMatchObject({
      mode: 'aggressive',
      max_depth: 10,
      max_parallel_branches: 8,
      confirmation_timeout_ms: 15_000,
    });
    expect(loaded.config.speculation.stake).toMatchObject({ min_stake: 2_000_000, slash_percentage: 0.05 });
  });

  it('an override that is well formed but out of range is checked like the file', () => {
    const err = configErrorOf(() => loadConfig({ file: TEMPLATE_PATH, env: { AGENC_SPECULATION_MAX_DEPTH: '25' } }));
    expect(err.problems).toMatchObject([
      { path: 'speculation.max_depth', value: 25, message: 'is out of range: allowed an integer in [1, 20]' },
    ]);
  });

  it.each<[string, string, Omit<ConfigProblem, 'kind'>]>([
    [
      'AGENC_SPECULATION_MAX_DEPTH',
      'seven',
      { path: 'speculation.max_depth (from AGENC_SPECULATION_MAX_DEPTH)', value: 'seven', message: 'must be a number' },
    ],
    [
      'AGENC_SPECULATION_MAX_DEPTH',
      '',
      { path: 'speculation.max_depth (from AGENC_SPECULATION_MAX_DEPTH)', value: '', message: 'must be a number' },
    ],
    [
      'AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE',
      '5%',
      {
        path: 'speculation.features.rollout_percentage (from AGENC_SPECULATION_FEATURES_ROLLOUT_PERCENTAGE)',
        value: '5%',
        message: 'must be a number',
      },
    ],
    [
      'AGENC_SPECULATION_ENABLED',
      'yes',
      { path: 'speculation.enabled (from AGENC_SPECULATION_ENABLED)', value: 'yes', message: 'must be true or false' },
    ],
    [
      'AGENC_SPECULATION_ENABLED',
      'TRUE',
      { path: 'speculation.enabled (from AGENC_SPECULATION_ENABLED)', value: 'TRUE', message: 'must be true or false' },
    ],
  ])('a malformed value %s=%j is a problem naming the variable', (name, value, problem) => {
    const err = configErrorOf(() => loadConfig({ file: TEMPLATE_PATH, env: { [name]: value } }));
    expect(err.problems).toMatchObject([problem]);
    expect(err.message).toContain(name);
    expect(err.message).toContain(TEMPLATE_PATH);
  });

  it('an unknown AGENC_SPECULATION_* name is a problem naming it, even without --strict', () => {
    const err = configErrorOf(() => loadConfig({ file: TEMPLATE_PATH, env: { AGENC_SPECULATION_MAX_DEPT: '4' } }));
    expect(err.problems).toMatchObject([
      {
        path: 'AGENC_SPECULATION_MAX_DEPT',
        value: '4',
        message: 'is not a known configuration variable (names are AGENC_ + the dotted key in upper case with _ for .)',
      },
    ]);
    expect(err.message).toContain('AGENC_SPECULATION_MAX_DEPT = "4" is not a known configuration variable');
  });

  it("reports every environment problem together with the file's own problems", () => {
    const file = write('bad-depth.toml', templateWithLine(4, 'max_depth = 21'));
    const err = configErrorOf(() =>
      loadConfig({ file, env: { AGENC_SPECULATION_ENABLED: 'on', AGENC_SPECULATION_BOGUS: '1' } }),
    );
    expect(err.problems.map((p) => p.path).sort()).toEqual([
      'AGENC_SPECULATION_BOGUS',
      'speculation.enabled (from AGENC_SPECULATION_ENABLED)',
      'speculation.max_depth',
    ]);
  });

  it('applyEnvOverrides leaves the raw object it is given unchanged', () => {
    const raw = { speculation: { max_depth: 3 } };
    const result = applyEnvOverrides(raw, {
      AGENC_SPECULATION_MAX_DEPTH: '7',
      AGENC_SPECULATION_PROOF_WORKER_THREADS: '4',
    });
    expect(raw).toEqual({ speculation: { max_depth: 3 } });
    expect(result.raw).toEqual({ speculation: { max_depth: 7, proof: { worker_threads: 4 } } });
    expect(result.problems).toMatchObject([]);
  });
});

describe('a missing file', () => {
  it('is an error naming the file and the reason', () => {
    const file = path.join(dir, 'no-such-dir', 'speculation-prod.toml');
    expect(() => loadConfig({ file, env: {} })).toThrow(`cannot read configuration file ${file}: ENOENT`);
    expect(() => readTomlFile(file)).toThrow(`cannot read configuration file ${file}: ENOENT`);
  });
});
