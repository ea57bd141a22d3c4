/**
 * `npm run bench`: the project's performance record. One private Temporal dev server (its own SQLite
 * in a temp dir, headless, 127.0.0.1, a free port), one workflow bundle, then each measurement module
 * in turn; every figure is a ratio against a baseline measured in the same run on the same machine.
 * A full run writes `bench/results.json` and `bench/RESULTS.md`; `--quick` runs a small subset of each
 * measurement and writes to a temp dir (or `--out`), so the committed results only come from full runs.
 *
 *   npm run bench [-- --quick] [--only speedup,proofs,cascade,control,overhead,load,chain,cli] [--out DIR]
 *                 [--work-ms N --finality-ms N]   (the speed-up at one parameter set instead of both of its own)
 *
 * Modules (bench/<name>.ts), in the priority order:
 *   speedup  chains, a fan-out tree, a diamond and a map-reduce: speculation off / on per level (batch 1) / on
 *            batched, against the model, at 2 s work / 3 s finality and 1 s / 2 s
 *   proofs   proven tasks/s through agenc-proofs with 1 and 2 proof worker processes, against raw snarkjs
 *   cascade  root failure to the last descendant's released bond, chains and wide trees; history sizes
 *   control  decisions/s the speculation-control singleton sustains, history per decision, continue-as-new
 *   overhead what a speculative hop costs beyond its work, proof and finality, part by part
 *   load     a burst of tasks to confirmation: tasks/s, latency, nothing lost, no bond locked
 *   chain    the embedded chain's lockBond as bonds accumulate (a send must not grow with the state)
 *   cli      `agenc --version` and a submission, a process each, prebuilt and from source, against `node -e 0`
 * Memory (worker RSS per active speculative task, proof worker peak) comes with cascade and proofs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { releaseProverResources } from '../activities/proof';
import { freePort, startDevServer } from '../workers/temporal-dev-server';
import { installRuntime } from '../workers/runtime';
import { bundleWorkflows } from '../workers/worker-process';
import { benchCascade } from './cascade';
import { benchChain } from './chain';
import { benchCli } from './cli';
import { benchControl } from './control';
import { benchLoad } from './load';
import { benchOverhead } from './overhead';
import type { BenchContext, BenchRecord } from './harness';
import { systemFactory } from './harness';
import { benchProofThroughput } from './proofs';
import { writeReport } from './report';
import { benchSpeedup } from './speedup';

const MODULES: Record<string, (ctx: BenchContext) => Promise<void>> = {
  speedup: benchSpeedup,
  proofs: benchProofThroughput,
  cascade: benchCascade,
  control: benchControl,
  overhead: benchOverhead,
  load: benchLoad,
  chain: benchChain,
  cli: benchCli,
};

const say = (m: string) => process.stdout.write(`${m}\n`);
/**
 * Longer than any module takes on a 2-core machine. The speed-up runs every shape three ways at two
 * parameter sets; the cascade's tree of 1,000 takes about 7 minutes to submit and speculate on a
 * server the speed-up module has already loaded, before its rollback is measured.
 */
const MODULE_TIMEOUT_MS = 480_000;
// The load module runs its 500-task burst twice (speculation on, then off): about 10 minutes here.
const MODULE_TIMEOUTS_MS: Record<string, number> = { speedup: 1_500_000, cascade: 1_200_000, load: 1_200_000 };

async function main(): Promise<number> {
  const opts = new Command('bench')
    .option('--quick', 'a small subset of every measurement (about a minute); results go to a temp dir unless --out')
    .option('--only <names>', `comma-separated modules (${Object.keys(MODULES).join(', ')})`)
    .option(
      '--work-ms <ms>',
      'speed-up: the agent work per task (with --finality-ms: one parameter set instead of both)',
    )
    .option('--finality-ms <ms>', "speed-up: the embedded chain's finality")
    .option(
      '--out <dir>',
      'where results.json and RESULTS.md go (default: bench/ for a full run, a temp dir for --quick)',
    )
    .parse()
    .opts<{ quick?: boolean; only?: string; out?: string; workMs?: string; finalityMs?: string }>();
  const msOption = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`${flag} must be a whole number of milliseconds >= 0, got "${v}"`);
    return n;
  };
  const params = { workMs: msOption('--work-ms', opts.workMs), finalityMs: msOption('--finality-ms', opts.finalityMs) };
  const quick = Boolean(opts.quick);
  const only = opts.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of only ?? [])
    if (!MODULES[name]) throw new Error(`--only: unknown module "${name}" (known: ${Object.keys(MODULES).join(', ')})`);
  const outDir = opts.out ?? (quick ? mkdtempSync(path.join(os.tmpdir(), 'agenc-bench-results-')) : __dirname);

  process.env.RUST_LOG ??= 'error';
  // Warnings only from the SDK and the workflows, so the figures are not lost among task logs.
  process.env.TEMPORAL_LOG_LEVEL ??= 'WARN';
  const logger = pino({ level: 'error' });
  installRuntime(logger, { sdkMetricsPort: 0 });

  const startedAt = new Date();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agenc-bench-'));
  const server = await startDevServer({
    address: `127.0.0.1:${await freePort()}`,
    headless: true,
    dbFile: path.join(dir, 'temporal.db'),
  });
  const records: BenchRecord[] = [];
  const failures: string[] = [];
  try {
    say(`bench (${quick ? 'quick' : 'full'}): Temporal dev server at ${server.address}, state in ${dir}`);
    const bundle = { code: (await bundleWorkflows()).code };
    const record = (r: BenchRecord) => {
      records.push(r);
      say(
        `  ${r.key}: ${r.figure.name} ${r.figure.value.toFixed(2)} ${r.figure.unit} vs ${r.baseline.name} ${r.baseline.value.toFixed(2)} ${r.baseline.unit}: ratio ${r.ratio.toFixed(2)}${r.met === undefined ? '' : r.met ? ' (target met)' : ' (target MISSED)'}`,
      );
    };
    const base = { quick, params, address: server.address, serverPid: server.pid, bundle, logger, dir, say, record };
    const ctx: BenchContext = { ...base, system: systemFactory(base) };
    for (const [name, run] of Object.entries(MODULES)) {
      if (only && !only.includes(name)) continue;
      const t0 = Date.now();
      say(`── ${name}`);
      // A module that stalls (a wedged worker, a lost update) fails here instead of holding the run forever;
      // what it recorded before stalling stays in the results.
      let timer: NodeJS.Timeout | undefined;
      const timeoutMs = MODULE_TIMEOUTS_MS[name] ?? MODULE_TIMEOUT_MS;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      try {
        await Promise.race([run(ctx), stalled]);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        say(`  ${name} FAILED: ${(err as Error).stack ?? String(err)}`);
      } finally {
        clearTimeout(timer);
      }
      say(`  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await server.stop();
    await releaseProverResources();
    rmSync(dir, { recursive: true, force: true });
  }
  const written = writeReport(
    outDir,
    {
      mode: quick ? 'quick' : 'full',
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      only,
      failures,
    },
    records,
  );
  say(`\nresults: ${written.json}\n         ${written.markdown}`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
