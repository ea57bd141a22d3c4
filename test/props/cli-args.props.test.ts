/**
 * `agenc` with bad arguments, property-based. Temporal is unreachable on purpose (TEMPORAL_ADDRESS
 * points at a closed port): a bad argument is the operator's mistake whether or not the system is up,
 * so every refusal here must be exit 2 naming the option, and never "cannot reach Temporal" (exit 3),
 * a stack trace, or a crash.
 *
 * The properties run the CLI's own entry point in this process (`main(argv)` of client/cli.ts, what
 * bin/agenc.js calls): its exit code, stdout and stderr are what the binary's would be, at a fraction
 * of a Node start-up each, so every property gets many runs. The last test runs one case of every
 * property through `node bin/agenc.js` as an operator does, so the binary's exit code and output are
 * checked too.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import fc from 'fast-check';
import { checkPayload } from '../../activities/task-types/registry';
import { main } from '../../client/cli';
import { CONFIG_KEYS } from '../../config/schema';
import { AGENT_NAME_PATTERN, TASK_ID_PATTERN } from '../../shared/task-model';
import { PROJECT_ROOT } from '../helpers/paths';

const BIN = path.join(PROJECT_ROOT, 'bin', 'agenc.js');
const UNREACHABLE_TEMPORAL = '127.0.0.1:1';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment an operator's shell would give: no AGENC_* or TEMPORAL_* but the unreachable address. */
function operatorEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('AGENC_') && !name.startsWith('TEMPORAL_')) env[name] = value;
  return { ...env, TEMPORAL_ADDRESS: UNREACHABLE_TEMPORAL };
}

/** `node bin/agenc.js …` as a child process. */
function agencProcess(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: PROJECT_ROOT, env: operatorEnv(), timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * The binary's `main(process.argv)` in this process, with the operator's environment: what it writes to
 * stdout and stderr is captured, the exit code is the `process.exitCode` it leaves (0 when it sets
 * none). A rejection out of `main` is what would crash the binary: it comes back as exit null with the
 * stack on stderr, which every property refuses.
 */
async function agenc(args: string[]): Promise<Run> {
  const run: Run = { code: null, stdout: '', stderr: '' };
  const env = process.env;
  const write = { out: process.stdout.write, err: process.stderr.write };
  const exitCode = process.exitCode;
  const capture = (key: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      run[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  process.env = operatorEnv();
  process.exitCode = undefined;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  try {
    await main([process.execPath, BIN, ...args]);
    run.code = Number(process.exitCode ?? 0);
  } catch (err) {
    run.stderr += `main rejected (the binary would crash):\n${(err as Error).stack ?? String(err)}\n`;
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    // The test process's own exit code must not be the CLI's.
    process.exitCode = exitCode;
    process.env = env;
  }
  return run;
}

/** Exit 2, one `agenc:` line naming `field`, no stack trace, not a connection error. */
function expectUsageError(run: Run, field: RegExp): void {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(field) });
  expect(run.stderr).not.toMatch(/cannot reach Temporal|\n\s+at /);
}

/** Argument text as a shell can pass it (no NUL), including unicode. */
const argText = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
/**
 * In process a run costs milliseconds, not a Node start-up (each of the 12 runs a property had as a child
 * process took 0.7 s).
 */
const RUNS = { numRuns: 200 };

describe('agenc task submit', () => {
  test('a payload that is not JSON, or not a payload of the type: exit 2 naming the payload', async () => {
    const payload = fc
      .oneof(
        argText,
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      )
      .filter((t) => {
        try {
          return !checkPayload('compute', JSON.parse(t)).ok;
        } catch {
          return true;
        }
      });
    await fc.assert(
      fc.asyncProperty(payload, async (p) =>
        expectUsageError(await agenc(['task', 'submit', '-t', 'compute', '-p', p]), /^agenc: (--payload|payload)/),
      ),
      RUNS,
    );
  });

  test('an unknown type: exit 2 naming --type and the known types', async () => {
    await fc.assert(
      fc.asyncProperty(
        argText.filter((t) => t !== 'compute'),
        async (type) =>
          expectUsageError(
            await agenc(['task', 'submit', '-t', type, '-p', '{"value": 1}']),
            /--type .* is not a task type \(known: compute, record\)/s,
          ),
      ),
      RUNS,
    );
  });

  test('an agent name or task id outside the rules: exit 2 naming it', async () => {
    const option = fc.constantFrom('--agent', '--task-id');
    await fc.assert(
      fc.asyncProperty(
        option,
        argText.filter((s) => !s.startsWith('-')),
        async (flag, value) => {
          fc.pre(!(flag === '--agent' ? AGENT_NAME_PATTERN : TASK_ID_PATTERN).test(value));
          expectUsageError(
            await agenc(['task', 'submit', '-t', 'compute', '-p', '{"value": 1}', flag, value]),
            flag === '--agent' ? /--agent/ : /task id/,
          );
        },
      ),
      RUNS,
    );
  });
});

describe('numeric options', () => {
  const notPositive = fc.oneof(
    argText.filter((s) => !(Number(s) > 0) && !s.startsWith('-')),
    fc.integer({ max: 0 }).map(String),
    fc.constantFrom('NaN', 'Infinity', '1e999'),
  );

  test('agenc task wait --timeout: exit 2 naming --timeout', async () => {
    await fc.assert(
      fc.asyncProperty(notPositive, async (t) =>
        expectUsageError(await agenc(['task', 'wait', 'abc', `--timeout=${t}`]), /--timeout must be a positive number/),
      ),
      RUNS,
    );
  });

  test('agenc stake init --amount: exit 2 naming --amount', async () => {
    const notLamports = fc.oneof(
      notPositive,
      fc.double({ min: 0.001, max: 1e6, noInteger: true }).map(String),
      fc.constant('9007199254740993'),
    );
    await fc.assert(
      fc.asyncProperty(notLamports, async (a) =>
        expectUsageError(
          await agenc(['stake', 'init', '--agent', 'alice', `--amount=${a}`]),
          /--amount must be a whole number of lamports/,
        ),
      ),
      RUNS,
    );
  });
});

describe('agenc config set', () => {
  test('an assignment that is not KEY=VALUE, or names an unknown key: exit 2 naming it', async () => {
    const assignment = fc.oneof(
      argText.filter((a) => a.indexOf('=') <= 0 && !a.startsWith('-')),
      fc
        .tuple(
          argText.filter((k) => !CONFIG_KEYS.has(k) && k !== '' && !k.includes('=') && !k.startsWith('-')),
          argText,
        )
        .map(([k, v]) => `${k}=${v}`),
    );
    await fc.assert(
      fc.asyncProperty(assignment, async (a) => {
        const run = await agenc(['config', 'set', 'speculation.enabled=true', a]);
        const key = a.slice(0, a.indexOf('='));
        expectUsageError(run, a.indexOf('=') <= 0 ? /is not KEY=VALUE/ : /is not a known key/);
        if (a.indexOf('=') > 0) expect(run.stderr).toContain(key);
      }),
      RUNS,
    );
  });
});

test('the binary (`node bin/agenc.js`, a child process) answers one case of each property the same: exit 2 naming the option, nothing else', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['task', 'submit', '-t', 'compute', '-p', '{"value": '], /^agenc: (--payload|payload)/],
    [
      ['task', 'submit', '-t', 'kompute', '-p', '{"value": 1}'],
      /--type .* is not a task type \(known: compute, record\)/,
    ],
    [['task', 'submit', '-t', 'compute', '-p', '{"value": 1}', '--agent', 'bad agent!'], /--agent/],
    [['task', 'wait', 'abc', '--timeout=0'], /--timeout must be a positive number/],
    [['stake', 'init', '--agent', 'alice', '--amount=1.5'], /--amount must be a whole number of lamports/],
    [['config', 'set', 'speculation.enabled=true', 'speculation.no_such_key=1'], /is not a known key/],
  ];
  // Two at a time: each is a Node start-up and a tsx compile.
  const runs: Run[] = [];
  for (let i = 0; i < cases.length; i += 2)
    runs.push(...(await Promise.all(cases.slice(i, i + 2).map(([args]) => agencProcess(args)))));
  cases.forEach(([, field], i) => expectUsageError(runs[i]!, field));
  // The same answer as in process, word for word: the in-process runs above stand for the binary.
  const inProcess: Run[] = [];
  for (const [args] of cases) inProcess.push(await agenc(args));
  expect(inProcess).toEqual(runs);
}, 120_000);
