/**
 * Writes a run's records: `results.json` (machine-readable, one key per measurement, with the inputs
 * that produced it) and `RESULTS.md` (one table row per measurement, then the notes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchRecord } from './harness';

export interface RunInfo {
  mode: 'full' | 'quick';
  startedAt: string;
  durationS: number;
  only?: string[];
  /** Modules that failed or stalled, with why: their missing rows are not a pass. */
  failures: string[];
}

function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function machine() {
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function writeReport(dir: string, run: RunInfo, records: BenchRecord[]): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'results.json');
  const markdown = path.join(dir, 'RESULTS.md');
  const results = Object.fromEntries(records.map((r) => [r.key, r]));
  writeFileSync(json, `${JSON.stringify({ run: { ...run, machine: machine() }, results }, null, 2)}\n`);

  const m = machine();
  const lines = [
    `# Benchmark results (${run.mode} run)`,
    '',
    `${run.startedAt}, ${run.durationS.toFixed(0)} s, ${m.cpus} × ${m.cpu_model}, ${m.memory_gb} GB, Node ${m.node}. ` +
      'Every figure is against a baseline measured in the same run on the same machine; produced by `npm run bench`' +
      (run.mode === 'quick' ? ' `--quick` (a small subset: do not quote these figures)' : '') +
      '.',
    '',
    '| measurement | inputs | figure | baseline | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
    ...records.map(
      (r) =>
        `| ${cell(r.title)} (\`${r.key}\`) | ${cell(
          Object.entries(r.inputs)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(', '),
        )} | ` +
        `${cell(`${r.figure.name}: ${num(r.figure.value)} ${r.figure.unit}`)} | ${cell(`${r.baseline.name}: ${num(r.baseline.value)} ${r.baseline.unit}`)} | ` +
        `${num(r.ratio)} (${cell(r.ratioMeaning)}) | ${cell(r.target ?? '—')} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} |`,
    ),
    '',
    ...(run.failures.length ? ['## Failed', '', ...run.failures.map((f) => `- ${f}`), ''] : []),
    '## Notes',
    '',
    ...records.map((r) => `- \`${r.key}\`: ${r.notes}`),
    '',
  ];
  writeFileSync(markdown, lines.join('\n'));
  return { json, markdown };
}
