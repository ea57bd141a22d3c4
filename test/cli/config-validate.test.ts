/**
 * The `agenc` CLI as an operator runs it: `node bin/agenc.js …` from the project root, with no
 * AGENC_SPECULATION_* in the environment unless a test sets one. Every invocation starts once in
 * beforeAll (a few at a time: each costs a Node start-up and the tsx compile) and the tests read the
 * results. No Temporal server is needed: TEMPORAL_ADDRESS points at a closed port, so a command that
 * tried to connect would end with exit 3 and "cannot reach Temporal".
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command, Option } from 'commander';
import { buildProgram } from '../../client/cli';
import { featureFlagProblems, formatProblem, parseConfig } from '../../config/schema';
import { PROJECT_ROOT, RUNBOOK_RESOLVED, RUNBOOK_TOML, RUNBOOK_VALIDATE_LINES, runbookWith } from '../config/runbook';

const BIN = path.join(PROJECT_ROOT, 'bin', 'agenc.js');
const TEMPLATE = 'config/speculation-template.toml';
const UNREACHABLE_TEMPORAL = '127.0.0.1:1';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('AGENC_SPECULATION_') && name !== 'AGENC_CONFIG') env[name] = value;
  }
  return { ...env, TEMPORAL_ADDRESS: UNREACHABLE_TEMPORAL, ...extra };
}

function agenc(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: PROJECT_ROOT, env: cliEnv(extraEnv), timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr, lines: stdout.split('\n').filter((l) => l !== '') });
      },
    );
  });
}

/** The template with line `n` (1-based) replaced, or with `extra` lines inserted after it. */
function templateEdit(n: number, replace: string | null, extra: string[] = []): string {
  const lines = RUNBOOK_TOML.split('\n');
  if (replace !== null) lines[n - 1] = replace;
  lines.splice(n, 0, ...extra);
  return lines.join('\n');
}

const unknownKeyMessage =
  'is not a known key (--strict rejects unknown keys; check the spelling against config/speculation-template.toml)';

let dir: string;
const files: Record<string, string> = {};
const runs: Record<string, Run> = {};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'agenc-cli-'));
  const write = (name: string, text: string) => {
    files[name] = path.join(dir, `${name}.toml`);
    writeFileSync(files[name] as string, text);
  };
  write(
    'bad',
    RUNBOOK_TOML.replace('max_depth = 3', 'max_depth = 21')
      .replace('slash_percentage = 0.1 ', 'slash_percentage = 0.6 ')
      .replace('generator = "groth16"', 'generator = "plonk"')
      .replace('worker_threads = 8', 'worker_threads = 33')
      .replace('max_memory_mb = 8192', 'max_memory_mb = 511'),
  );
  write('unterminated', templateEdit(7, 'rollback_policy = "cascade'));
  write('header', templateEdit(9, '[speculation.stake'));
  write('unknown', templateEdit(14, null, ['slashing_percentage = 0.2']));
  write(
    'flags',
    RUNBOOK_TOML.replace('enable_parallel_speculation = true', 'enable_parallel_speculation = false').replace(
      'rollout_percentage = 0.0',
      'rollout_percentage = 5',
    ),
  );
  write('minmax', RUNBOOK_TOML.replace('min_stake = 1_000_000 ', 'min_stake = 2_000_000_000 '));

  const validate = (file: string, ...rest: string[]) => ['config', 'validate', '--config', file, ...rest];
  const plan: Record<string, () => Promise<Run>> = {
    templateStrict: () => agenc(validate(TEMPLATE, '--strict')),
    templateStrictJson: () => agenc(validate(TEMPLATE, '--strict', '--output', 'json')),
    bad: () => agenc(validate(files.bad as string)),
    badJson: () => agenc(validate(files.bad as string, '--strict', '-o', 'json')),
    unterminated: () => agenc(validate(files.unterminated as string, '--strict')),
    headerJson: () => agenc(validate(files.header as string, '--output', 'json')),
    unknownLenient: () => agenc(validate(files.unknown as string)),
    unknownStrict: () => agenc(validate(files.unknown as string, '--strict')),
    flagsStrict: () => agenc(validate(files.flags as string, '--strict')),
    minmax: () => agenc(validate(files.minmax as string, '--strict')),
    env: () =>
      agenc(validate(TEMPLATE, '--strict'), { AGENC_SPECULATION_MAX_DEPTH: '25', AGENC_SPECULATION_ENABLED: 'yes' }),
    noEnv: () =>
      agenc(validate(TEMPLATE, '--strict', '--no-env'), {
        AGENC_SPECULATION_MAX_DEPTH: '25',
        AGENC_SPECULATION_ENABLED: 'yes',
      }),
    missing: () => agenc(validate(path.join(dir, 'speculation-prod.toml'))),
    help: () => agenc(['--help']),
    submitHelp: () => agenc(['task', 'submit', '--help']),
    validateHelp: () => agenc(['config', 'validate', '--help']),
    yaml: () => agenc(validate(TEMPLATE, '--output', 'yaml')),
    badPayload: () => agenc(['task', 'submit', '--type', 'compute', '--payload', '{not json']),
  };
  const queue = Object.entries(plan);
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) runs[next[0]] = await next[1]();
  };
  await Promise.all([worker(), worker(), worker()]);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string): Run {
  const r = runs[name];
  if (!r) throw new Error(`no run named ${name}`);
  return r;
}

describe('agenc config validate --config config/speculation-template.toml --strict (runbook Step 3)', () => {
  it('exits 0, writes nothing to stderr, every check passes and the last line is "Configuration valid!"', () => {
    const r = run('templateStrict');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toBe('Configuration valid!');
    expect(r.lines.slice(0, -1).filter((l) => !l.startsWith('✓ '))).toEqual([]);
    expect(r.lines).toContain('✓ No unknown keys');
  });

  it.each(RUNBOOK_VALIDATE_LINES)('prints the runbook line "%s"', (line) => {
    expect(run('templateStrict').lines).toContain(line);
  });

  it('--output json gives the same verdict as parseable JSON with the resolved configuration', () => {
    const r = run('templateStrictJson');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      file: string;
      strict: boolean;
      env_overrides: string[];
      checks: { ok: boolean; check: string }[];
      config: unknown;
    };
    expect(out).toMatchObject({ valid: true, file: TEMPLATE, strict: true, env_overrides: [] });
    expect(out.config).toEqual(RUNBOOK_RESOLVED);
    expect(out.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.check}`)).toEqual(run('templateStrict').lines.slice(0, -1));
  });
});

describe('a file with values out of range', () => {
  it('exits 1 and names each key, its value and the allowed range', () => {
    const r = run('bad');
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(
      expect.arrayContaining([
        '✗ speculation.max_depth within range [1, 20]: speculation.max_depth = 21 is out of range: allowed an integer in [1, 20]',
        '✗ speculation.stake.slash_percentage within range [0.01, 0.5]: speculation.stake.slash_percentage = 0.6 is out of range: allowed a number in [0.01, 0.5]',
        '✗ speculation.proof.worker_threads within range [1, 32]: speculation.proof.worker_threads = 33 is out of range: allowed an integer in [1, 32]',
        '✗ speculation.proof.generator is valid: speculation.proof.generator = "plonk" must be one of "groth16"',
        '✓ speculation.max_parallel_branches within range [1, 16]',
      ]),
    );
    const memory = r.lines.filter((l) => l.includes('max_memory_mb'));
    expect(memory).toHaveLength(1);
    expect(memory[0]).toMatch(
      /^✗ speculation\.limits\.max_memory_mb (>= 512|within range \[512, \d+\]): speculation\.limits\.max_memory_mb = 511 is out of range: allowed an integer (>= 512|in \[512, \d+\])$/,
    );
    expect(r.lines.filter((l) => l.startsWith('✗ '))).toHaveLength(5);
    expect(r.lines.at(-1)).toBe('Configuration invalid: 5 check(s) failed.');
  });

  it('--output json: valid false, and each failed check with its problem', () => {
    const r = run('badJson');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      file: string;
      strict: boolean;
      checks: { ok: boolean; check: string; problem?: string }[];
      config?: unknown;
    };
    expect(out).toMatchObject({ valid: false, file: files.bad, strict: true });
    expect(out).not.toHaveProperty('config');
    expect(out.checks).toEqual(
      expect.arrayContaining([
        {
          ok: false,
          check: 'speculation.max_depth within range [1, 20]',
          problem: 'speculation.max_depth = 21 is out of range: allowed an integer in [1, 20]',
        },
        {
          ok: false,
          check: 'speculation.proof.generator is valid',
          problem: 'speculation.proof.generator = "plonk" must be one of "groth16"',
        },
        { ok: true, check: 'No unknown keys' },
      ]),
    );
    expect(
      out.checks
        .filter((c) => !c.ok)
        .map((c) => c.problem?.split(' = ')[0])
        .sort(),
    ).toEqual([
      'speculation.limits.max_memory_mb',
      'speculation.max_depth',
      'speculation.proof.generator',
      'speculation.proof.worker_threads',
      'speculation.stake.slash_percentage',
    ]);
  });

  it('min_stake > max_stake fails only the min_stake <= max_stake check, once', () => {
    const r = run('minmax');
    expect(r.code).toBe(1);
    expect(r.lines).toContain('✓ speculation.stake.min_stake >= 890880');
    expect(r.lines.filter((l) => l.startsWith('✗ '))).toEqual([
      '✗ speculation.stake.min_stake <= speculation.stake.max_stake: speculation.stake.min_stake = 2000000000 must be <= speculation.stake.max_stake (1000000000)',
    ]);
    expect(r.lines.at(-1)).toBe('Configuration invalid: 1 check(s) failed.');
  });
});

describe('broken TOML', () => {
  it('an unterminated string on line 7: file, line and column, exit 1', () => {
    const r = run('unterminated');
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(2);
    expect(r.lines[0]).toMatch(new RegExp(`^✗ ${files.unterminated}:7:(\\d+): TOML syntax error: .* in strings$`));
    expect(r.lines[1]).toBe('Configuration invalid.');
  });

  it('a broken table header on line 9, --output json: line and column as fields', () => {
    const r = run('headerJson');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { valid: boolean; file: string; error: string; line: number; column: number };
    expect(out).toMatchObject({ valid: false, file: files.header, line: 9 });
    expect(out.column).toBeGreaterThanOrEqual(1);
    expect(out.column).toBeLessThanOrEqual('[speculation.stake'.length + 1);
    expect(out.error).toMatch(new RegExp(`^${files.header}:9:${out.column}: TOML syntax error: \\S`));
  });
});

describe('unknown keys fail only with --strict', () => {
  it('without --strict: valid, exit 0', () => {
    const r = run('unknownLenient');
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toBe('Configuration valid!');
  });

  it('with --strict: the key named, exit 1', () => {
    const r = run('unknownStrict');
    expect(r.code).toBe(1);
    expect(r.lines.filter((l) => l.startsWith('✗ '))).toEqual([
      `✗ No unknown keys: speculation.stake.slashing_percentage = 0.2 ${unknownKeyMessage}`,
    ]);
    expect(r.lines.at(-1)).toBe('Configuration invalid: 1 check(s) failed.');
  });
});

describe('inconsistent feature flags under --strict', () => {
  it('fail the "Feature flag combinations are valid" check, naming each, and no range check', () => {
    const raw = runbookWith({
      'speculation.features.enable_parallel_speculation': false,
      'speculation.features.rollout_percentage': 5,
    });
    const lenient = parseConfig(raw);
    if (!lenient.ok) throw new Error('the file is valid without --strict');
    const named = featureFlagProblems(lenient.config).map(formatProblem);
    expect(named).toHaveLength(2);

    const r = run('flagsStrict');
    expect(r.code).toBe(1);
    expect(r.lines).toContain('✓ speculation.features.rollout_percentage within range [0, 100]');
    expect(r.lines).toContain('✓ speculation.max_parallel_branches within range [1, 16]');
    expect(r.lines.filter((l) => l.startsWith('✗ '))).toEqual([
      `✗ Feature flag combinations are valid: ${named.join('; ')}`,
    ]);
    expect(r.lines.at(-1)).toBe('Configuration invalid: 1 check(s) failed.');
  });
});

describe('AGENC_SPECULATION_* in the environment', () => {
  it('are applied and said so; a bad value names the variable; exit 1', () => {
    const r = run('env');
    expect(r.code).toBe(1);
    expect(r.lines[0]).toBe('(environment overrides applied: AGENC_SPECULATION_MAX_DEPTH)');
    expect(r.lines).toContain(
      '✗ speculation.max_depth within range [1, 20]: speculation.max_depth = 25 is out of range: allowed an integer in [1, 20]',
    );
    expect(r.lines).toContain(
      '✗ speculation.enabled (from AGENC_SPECULATION_ENABLED) is valid: speculation.enabled (from AGENC_SPECULATION_ENABLED) = "yes" must be true or false',
    );
  });

  it('--no-env ignores them', () => {
    const r = run('noEnv');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('environment overrides');
    expect(r.lines.at(-1)).toBe('Configuration valid!');
  });
});

describe('usage errors', () => {
  it('a missing file: exit 2 and the file named', () => {
    const r = run('missing');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`agenc: cannot read configuration file ${path.join(dir, 'speculation-prod.toml')}: ENOENT\n`);
  });

  it('--output yaml is refused with exit 2', () => {
    const r = run('yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      "error: option '-o, --output <format>' argument 'yaml' is invalid. Allowed choices are text, json.",
    );
  });

  it('task submit with an invalid --payload exits 2 naming --payload, before any connection to Temporal', () => {
    const r = run('badPayload');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^agenc: --payload is not valid JSON: .+ \(got "\{not json"; example: '\{"value": 42\}'\)\n$/,
    );
    // TEMPORAL_ADDRESS is a closed port: had the command connected first it would have said so, with exit 3.
    expect(r.stderr).not.toContain('cannot reach Temporal');
  });
});

describe('--output on every command', () => {
  it('agenc --help mentions --output', () => {
    const r = run('help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: agenc [options] [command]');
    expect(r.stdout).toContain('--output');
  });

  it('agenc task submit --help lists -o, --output with its choices', () => {
    const r = run('submitHelp');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: agenc task submit [options]');
    expect(r.stdout).toMatch(/-o, --output <format>\s+output format \(choices: "text", "json", default:\s+"text"\)/);
  });

  it('agenc config validate --help lists --config, --strict, --no-env and -o, --output', () => {
    const r = run('validateHelp');
    expect(r.code).toBe(0);
    for (const flag of ['-c, --config <file>', '--strict', '--no-env', '-o, --output <format>'])
      expect(r.stdout).toContain(flag);
  });

  describe('every leaf command of buildProgram()', () => {
    const { program } = buildProgram();
    const leaves: [string, Command][] = [];
    const walk = (cmd: Command, names: string[]) => {
      if (!cmd.commands.length) leaves.push([names.join(' '), cmd]);
      for (const sub of cmd.commands) walk(sub, [...names, sub.name()]);
    };
    walk(program, []);

    it('the walk finds the commands the runbook uses', () => {
      const names = leaves.map(([name]) => name);
      expect(names).toEqual(
        expect.arrayContaining([
          'task submit',
          'task status',
          'task wait',
          'config validate',
          'config set',
          'stake init',
          'admin check-integrity',
        ]),
      );
    });

    it.each(leaves)('agenc %s --help lists -o, --output (text|json)', (_name, cmd) => {
      const output = cmd.options.find((o: Option) => o.long === '--output');
      expect(output?.flags).toBe('-o, --output <format>');
      // Text and JSON everywhere; `task graph` adds Graphviz DOT.
      expect(output?.argChoices?.slice(0, 2)).toEqual(['text', 'json']);
      expect(output?.defaultValue).toBe('text');
      expect(cmd.helpInformation().replace(/\s+/g, ' ')).toMatch(/-o, --output <format> .*\(choices: "text", "json",/);
    });
  });
});
