/**
 * `npm run test:fast`: the fast tier, under a minute on two cores. The type-check, the lint and jest
 * with test/fast/jest.config.js run side by side: the stubbed-workflow tests of test/fast (the real
 * workflows on the time-skipping test server, stub activities) and the unit tests that need no dev
 * server, no proofs and no chain. No dev server is started (that config's global setup only builds the
 * workflow bundle). `npm test` still runs everything; the real-component tests stay the acceptance tier.
 *
 * The type-check is incremental (its build info in .data/test/fast), the lint is not (a cache would miss
 * what a change in one file does to the types another file lints by). Ends with the plain line
 * `N passed, N failed`, as `npm test` does. Extra arguments go to jest and skip the type-check and lint
 * (`npm run test:fast -- test/fast/cascade`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { jestCounts } from './jest-counts';
import { ensureVenv } from '../workers/temporal-dev-server';

const root = path.resolve(__dirname, '..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
const dataDir = path.join(root, '.data', 'test', 'fast');
const jestArgs = process.argv.slice(2);
const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'error' };

interface StepResult {
  name: string;
  ok: boolean;
  seconds: number;
  /** What a step that ran with its output held printed (undefined when it printed as it went). */
  output?: string;
}

/** Runs a step; with `hold` its output is kept (it runs beside jest, whose output goes first). */
function step(name: string, cmd: string, args: string[], hold = false): Promise<StepResult> {
  const started = Date.now();
  process.stderr.write(
    `\n── ${name}: ${path.basename(cmd)} ${args.join(' ')}${hold ? ' (its output after jest)' : ''}\n`,
  );
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: hold ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const done = (ok: boolean) =>
      resolve({ name, ok, seconds: (Date.now() - started) / 1000, output: hold ? output : undefined });
    child.on('error', (err) => {
      output += `${String(err)}\n`;
      done(false);
    });
    child.on('close', (code) => done(code === 0));
  });
}

async function main(): Promise<void> {
  ensureVenv((m) => process.stderr.write(`${m}\n`));
  mkdirSync(dataDir, { recursive: true });
  const results = path.join(dataDir, 'jest-results.json');
  rmSync(results, { force: true });

  // Checks over the whole tree count as one test each; a filtered run skips them.
  const checks = jestArgs.length
    ? []
    : [
        step(
          'typecheck',
          bin('tsc'),
          ['--noEmit', '-p', '.', '--incremental', '--tsBuildInfoFile', path.join(dataDir, 'tsconfig.tsbuildinfo')],
          true,
        ),
        step('lint', bin('eslint'), ['.', '--max-warnings', '0'], true),
      ];
  const jest = await step('jest (fast tier)', bin('jest'), [
    '-c',
    path.join('test', 'fast', 'jest.config.js'),
    '--json',
    `--outputFile=${results}`,
    ...jestArgs,
  ]);
  const steps = [...(await Promise.all(checks)), jest];

  let passed = 0;
  let failed = 0;
  for (const check of steps.slice(0, -1)) {
    process.stderr.write(`\n── ${check.name}\n${check.output ?? ''}`);
    if (check.ok) passed += 1;
    else failed += 1;
  }
  const counts = jestCounts(results);
  passed += counts.passed;
  failed += counts.failed;
  if (!jest.ok && failed === 0) failed += 1;
  process.stderr.write(
    `\n${steps.map((s) => `${s.name}: ${s.ok ? 'ok' : 'FAILED'} in ${s.seconds.toFixed(1)} s`).join('; ')}\n`,
  );
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exitCode = failed ? 1 : 0;
}

void main();
