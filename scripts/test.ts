/**
 * `npm test`: type-check, lint, the formatting check (prettier), then the jest suite against a real Temporal dev server (started by
 * test/global-setup.ts). Installs the pinned Temporal binaries on first use. Ends with the plain line
 * `N passed, N failed` that CI reads. Extra arguments go to jest (`npm test -- test/workflows`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { jestCounts } from './jest-counts';
import { ensureVenv } from '../workers/temporal-dev-server';

const root = path.resolve(__dirname, '..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
const jestArgs = process.argv.slice(2);

function step(name: string, cmd: string, args: string[]): boolean {
  process.stderr.write(`\n── ${name}: ${path.basename(cmd)} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'error' },
  });
  return r.status === 0;
}

ensureVenv((m) => process.stderr.write(`${m}\n`));
let passed = 0;
let failed = 0;
// Checks over the whole tree count as one test each; a filtered run (`npm test -- PATTERN`) skips them.
if (!jestArgs.length) {
  for (const [name, cmd, args] of [
    ['typecheck', bin('tsc'), ['--noEmit', '-p', '.']],
    ['lint', bin('eslint'), ['.', '--max-warnings', '0']],
    // `npm run format` fixes what this finds.
    ['format', bin('prettier'), ['--check', '**/*.{ts,js}']],
  ] as const) {
    if (step(name, cmd, [...args])) passed += 1;
    else failed += 1;
  }
}

const results = path.join(root, '.data', 'test', 'jest-results.json');
mkdirSync(path.dirname(results), { recursive: true });
rmSync(results, { force: true });
const jestOk = step('jest', bin('jest'), ['--json', `--outputFile=${results}`, ...jestArgs]);
const counts = jestCounts(results);
passed += counts.passed;
failed += counts.failed;
if (!jestOk && failed === 0) failed += 1;
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;
