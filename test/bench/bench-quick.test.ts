/**
 * The benchmark itself must not rot: `npm run bench -- --quick` runs once in the suite, as a child
 * process with its own dev server, and must produce every measurement. A benchmark is not a test: no
 * figure is judged here, only that each one was measured.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const QUICK_KEYS = [
  'speedup.chain.n2',
  'speedup.tree.b2l2',
  'speedup.graph.diamond',
  'proofs.worker1',
  'proofs.worker2',
  'cascade.chain.1',
  'cascade.chain.4',
  'cascade.tree.4',
  'cascade.dag.8',
  'control.ceiling',
  'overhead.hop',
  'load.burst',
  'load.on_off',
  'memory.active_speculative',
  'chain.lock_bond',
  'cli.version',
  'cli.submission',
];

test('npm run bench -- --quick measures everything and writes results.json and RESULTS.md', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'agenc-bench-quick-'));
  const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bench/index.ts', '--quick', '--out', out], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench --quick exited ${code}:\n${output.slice(-4000)}`);

  const { results } = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as {
    results: Record<
      string,
      {
        figures: Record<string, unknown>;
        figure: { value: unknown };
        baseline: { value: unknown };
        ratio: unknown;
        inputs: object;
      }
    >;
  };
  expect(Object.keys(results).sort()).toEqual([...QUICK_KEYS].sort());
  for (const [key, r] of Object.entries(results)) {
    const numbers = [r.figure.value, r.baseline.value, r.ratio, ...Object.values(r.figures)];
    expect({ key, allFinite: numbers.every((v) => typeof v === 'number' && Number.isFinite(v)) }).toEqual({
      key,
      allFinite: true,
    });
    expect(Object.keys(r.inputs).length).toBeGreaterThan(0);
  }
  expect(readFileSync(path.join(out, 'RESULTS.md'), 'utf8')).toContain(
    '| measurement | inputs | figure | baseline | ratio | target | met |',
  );
}, 600_000);
