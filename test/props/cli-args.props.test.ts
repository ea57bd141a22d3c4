/**
 * `agenc` with bad arguments, property-based, run as an operator runs it (`node bin/agenc.js …`).
 * Temporal is unreachable on purpose (TEMPORAL_ADDRESS points at a closed port): a bad argument is the
 * operator's mistake whether or not the system is up, so every refusal here must be exit 2 naming the
 * option, and never "cannot reach Temporal" (exit 3), a stack trace, or a crash.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import fc from 'fast-check';
import { checkPayload } from '../../activities/task-types/registry';
import { CONFIG_KEYS } from '../../config/schema';
import { AGENT_NAME_PATTERN, TASK_ID_PATTERN } from '../../shared/task-model';
import { PROJECT_ROOT } from '../helpers/paths';

const BIN = path.join(PROJECT_ROOT, 'bin', 'agenc.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function agenc(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AGENC_') && !name.startsWith('TEMPORAL_')) env[name] = value;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: PROJECT_ROOT, env: { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

/** Exit 2, one `agenc:` line naming `field`, no stack trace, not a connection error. */
function expectUsageError(run: Run, field: RegExp): void {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(field) });
  expect(run.stderr).not.toMatch(/cannot reach Temporal|\n\s+at /);
}

/** Argument text as a shell can pass it (no NUL), including unicode. */
const argText = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
const RUNS = { numRuns: 12 };

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
      fc.asyncProperty(payload, async (p) => expectUsageError(await agenc(['task', 'submit', '-t', 'compute', '-p', p]), /^agenc: (--payload|payload)/)),
      RUNS,
    );
  });

  test('an unknown type: exit 2 naming --type and the known types', async () => {
    await fc.assert(
      fc.asyncProperty(
        argText.filter((t) => t !== 'compute'),
        async (type) => expectUsageError(await agenc(['task', 'submit', '-t', type, '-p', '{"value": 1}']), /--type .* is not a task type \(known: compute\)/),
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
          expectUsageError(await agenc(['task', 'submit', '-t', 'compute', '-p', '{"value": 1}', flag, value]), flag === '--agent' ? /--agent/ : /task id/);
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
    const notLamports = fc.oneof(notPositive, fc.double({ min: 0.001, max: 1e6, noInteger: true }).map(String), fc.constant('9007199254740993'));
    await fc.assert(
      fc.asyncProperty(notLamports, async (a) =>
        expectUsageError(await agenc(['stake', 'init', '--agent', 'alice', `--amount=${a}`]), /--amount must be a whole number of lamports/),
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
