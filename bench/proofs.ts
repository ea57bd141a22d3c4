/**
 * 3. Proof throughput through `agenc-proofs`, against raw snarkjs in the same run.
 *
 * Raw: `snarkjs.groth16.fullProve` in this process, one proof after another (snarkjs spreads one proof
 * over every core itself). Through Temporal: N root tasks submitted at once; the task worker (in this
 * process) serves `agenc-tasks` only, and the proofs are taken by 1, then 2, proof worker *processes*
 * (`tsx workers/main.ts --queues agenc-proofs`, as deployed): two workers in one process would share
 * one event loop and one snarkjs thread pool, which is not what a second proof worker is.
 * Throughput = tasks / (the last task's proof verified − the burst's submission), with
 * `worker_threads = 1` per worker (one proof at a time each, as snarkjs already uses every core).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureArtifacts } from '../activities/proof';
import { snarkjs } from '../activities/proof/snarkjs';
import { PROJECT_ROOT } from '../config/load';
import { TASK_QUEUE } from '../shared/task-queues';
import { benchConfig, type BenchContext, type BenchRecord, type BenchSystem, ms, pool } from './harness';
import { circuitInput, witness } from './proof';

const AGENT = 'bench';

/** Raw snarkjs Groth16 proofs per second, one after another, after a warm-up proof. */
export async function rawProofsPerSecond(n: number): Promise<number> {
  // The artifacts the workers prove with ($AGENC_CIRCUITS_DIR when set, as for the workers): never a second
  // build of the same circuit.
  const artifacts = await ensureArtifacts({ artifactsDir: process.env.AGENC_CIRCUITS_DIR });
  const inputs = Array.from({ length: n + 1 }, (_, i) => circuitInput(witness(i)));
  await snarkjs.groth16.fullProve(inputs[n]!, artifacts.wasmPath, artifacts.zkeyPath); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await snarkjs.groth16.fullProve(inputs[i]!, artifacts.wasmPath, artifacts.zkeyPath);
  return (n * 1000) / (performance.now() - t0);
}

interface ProofWorker {
  peakRssMb(): number | undefined;
  stop(): Promise<void>;
}

/** A proof worker process on the system's namespace; resolves once it polls. */
async function startProofWorker(sys: BenchSystem): Promise<ProofWorker> {
  const child: ChildProcess = spawn(
    path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'),
    ['workers/main.ts', '--queues', 'agenc-proofs', '--http-port', 'off'],
    {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: sys.address,
        TEMPORAL_NAMESPACE: sys.namespace,
        AGENC_CONFIG: sys.configFile,
        TEMPORAL_SDK_METRICS_PORT: '0',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
      },
    },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`proof worker did not start polling within 60 s:\n${output.slice(-2000)}`)),
      60_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`proof worker exited (${code}) before polling:\n${output.slice(-2000)}`));
    });
  });
  return {
    peakRssMb() {
      // Linux: the process's high-water mark of resident memory.
      try {
        const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        return kb ? Number(kb) / 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Proven tasks per second for a burst of `n` root tasks. */
async function burst(sys: BenchSystem, n: number, offset: number): Promise<number> {
  const t0 = Date.now();
  const ids = await pool(
    Array.from({ length: n }, (_, i) => i),
    8,
    (i) => sys.submit({ type: 'compute', payload: { value: offset + i }, agent: AGENT }),
  );
  const states = await Promise.all(ids.map((id) => sys.result(id)));
  const bad = states.filter((s) => s.status !== 'confirmed');
  if (bad.length)
    throw new Error(
      `proofs: ${bad.length} task(s) did not confirm: ${bad.map((s) => `${s.task_id} ${s.status} ${s.error}`).join(', ')}`,
    );
  return (n * 1000) / (Math.max(...states.map((s) => ms(s.timestamps.committing))) - t0);
}

export async function benchProofThroughput(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 3 : 30;
  // Raw before and after the queue runs, averaged: the machine's load drifts over a minute.
  const rawBefore = await rawProofsPerSecond(n);
  const sys = await ctx.system('proofs', {
    config: benchConfig(),
    worker: { queues: [TASK_QUEUE], embeddedFinalityMs: 0 },
  });
  const workers: ProofWorker[] = [];
  let peakRssMb: number | undefined;
  const perWorkers: number[] = [];
  try {
    await sys.fund(AGENT);
    for (const count of [1, 2]) {
      while (workers.length < count) workers.push(await startProofWorker(sys));
      // Warm-up: one task per worker (each takes one proof at a time), so every worker has loaded the circuit.
      await burst(sys, 2 * count, 1_000_000 + 100 * count);
      perWorkers.push(await burst(sys, n, count * 1000));
      ctx.say(`  ${count} proof worker process(es): ${perWorkers[perWorkers.length - 1]!.toFixed(2)} proven tasks/s`);
    }
    peakRssMb = Math.max(...workers.map((w) => w.peakRssMb() ?? NaN));
  } finally {
    for (const w of workers) await w.stop();
    await sys.close();
  }
  const rawAfter = await rawProofsPerSecond(n);
  const raw = (rawBefore + rawAfter) / 2;
  ctx.say(`  raw snarkjs: ${rawBefore.toFixed(2)} proofs/s before, ${rawAfter.toFixed(2)} after`);
  const [one, two] = perWorkers as [number, number];
  const inputs = { proofs: n, worker_threads_per_worker: 1, cpus: os.cpus().length };
  const records: BenchRecord[] = [
    {
      key: 'proofs.worker1',
      title: 'proof throughput, 1 proof worker process',
      inputs,
      figures: { tasks_per_s: one, raw_proofs_per_s: raw, raw_before_per_s: rawBefore, raw_after_per_s: rawAfter },
      figure: { name: 'proven tasks/s through agenc-proofs', value: one, unit: '/s' },
      baseline: { name: 'raw snarkjs proofs/s', value: raw, unit: '/s' },
      ratio: one / raw,
      ratioMeaning: 'through Temporal / raw',
      target: '≥ 0.90 of raw',
      met: one / raw >= 0.9,
      notes:
        'each task: execute, prove on agenc-proofs, verify on agenc-proof-verification; the burst is timed from submission to the last proof verified',
    },
    {
      key: 'proofs.worker2',
      title: 'proof throughput, 2 proof worker processes',
      inputs,
      figures: {
        tasks_per_s: two,
        one_worker_tasks_per_s: one,
        raw_proofs_per_s: raw,
        scaling: two / one,
        ...(Number.isFinite(peakRssMb) ? { proof_worker_peak_rss_mb: peakRssMb! } : {}),
      },
      figure: { name: 'proven tasks/s through agenc-proofs', value: two, unit: '/s' },
      baseline: { name: 'the same with 1 worker', value: one, unit: '/s' },
      ratio: two / one,
      ratioMeaning: '2 workers / 1 worker (linear: 2)',
      notes:
        'snarkjs already spreads one proof over every core, so on a 2-core machine a second proof worker process can only fill the gaps ' +
        "between one worker's proofs (witness calculation, activity round trips): near-linear scaling needs a second machine" +
        (Number.isFinite(peakRssMb) ? `; proof worker process peak RSS ${peakRssMb!.toFixed(0)} MB` : ''),
    },
  ];
  for (const r of records) ctx.record(r);
}
