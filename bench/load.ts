/**
 * 6. Load: N tasks submitted at once (chains of 5; at most 16 submissions in flight, loopback only) with
 * real proofs and the embedded finality, once with speculation on and once off, each on a system of its
 * own. Tasks/s to confirmation, latency (submission to confirmation) p50/p99, nothing lost (every task
 * confirmed), no bond left locked (the chain's integrity check and the agent's locked stake). Every task
 * needs one proof, so the baseline is raw snarkjs proofs/s on the same machine, in the same run: the
 * ratio is the share of the proof ceiling the whole system reaches. Where the rest goes is measured as
 * CPU time per task (this process: task worker, proof worker and client; the Temporal server) beside the
 * CPU time of one raw proof.
 */
import { readFileSync } from 'node:fs';
import { createStakeOperator } from '../activities/chain';
import { benchConfig, type BenchContext, ms, pool, quantile } from './harness';
import { rawProofsPerSecond } from './proofs';

const AGENT = 'bench';
const CHAIN = 5;

/** CPU seconds a process has used: this one (every thread), or another by pid (/proc, Linux). */
function cpuSeconds(pid?: number): number {
  if (pid === undefined) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks (100 a second on Linux); the name may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface BurstRun {
  tasksPerS: number;
  p50: number;
  p99: number;
  submitMs: number;
  lastMs: number;
  lost: number;
  statuses: Record<string, number>;
  integrityProblems: number;
  locked: number;
  /** CPU ms per task: this process, and the Temporal server (NaN when the bench reused a server). */
  cpuMsPerTask: { node: number; server: number };
}

async function burst(ctx: BenchContext, tasks: number, finalityMs: number, speculation: boolean): Promise<BurstRun> {
  const config = speculation
    ? benchConfig()
    : benchConfig({ speculation: { enabled: false, features: { rollout_percentage: 0 } } });
  const sys = await ctx.system(speculation ? 'load-on' : 'load-off', {
    config,
    worker: { embeddedFinalityMs: finalityMs },
  });
  try {
    await sys.fund(AGENT);
    await sys.result(await sys.submit({ type: 'compute', payload: { value: 1 }, agent: AGENT })); // warm-up
    const cpu0 = { node: cpuSeconds(), server: ctx.serverPid ? cpuSeconds(ctx.serverPid) : NaN };
    const t0 = Date.now();
    const chains = await pool(
      Array.from({ length: tasks / CHAIN }, (_, c) => c),
      16,
      async (c) => {
        const ids: string[] = [];
        for (let i = 0; i < CHAIN; i++)
          ids.push(
            await sys.submit({
              type: 'compute',
              payload: { value: c * CHAIN + i },
              dependsOn: ids[i - 1],
              agent: AGENT,
            }),
          );
        return ids;
      },
    );
    const submitMs = Date.now() - t0;
    const states = await pool(chains.flat(), 32, (id) => sys.result(id));
    const cpu1 = { node: cpuSeconds(), server: ctx.serverPid ? cpuSeconds(ctx.serverPid) : NaN };
    const confirmed = states.filter((s) => s.status === 'confirmed');
    const lastMs = Math.max(...confirmed.map((s) => ms(s.timestamps.confirmed))) - t0;
    const latencies = confirmed.map((s) => ms(s.timestamps.confirmed) - ms(s.timestamps.pending));
    const statuses: Record<string, number> = {};
    for (const s of states) statuses[s.speculation_status] = (statuses[s.speculation_status] ?? 0) + 1;
    const operator = createStakeOperator(sys.worker.stakeDeps!);
    const integrity = await operator.checkIntegrity({ liveBonds: [] });
    return {
      tasksPerS: (confirmed.length * 1000) / lastMs,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      submitMs,
      lastMs,
      lost: tasks - confirmed.length,
      statuses,
      integrityProblems: integrity.problems.length,
      locked: (await operator.stakeStatus({ agent: AGENT })).agents[0]?.locked_in_bonds ?? 0,
      cpuMsPerTask: {
        node: ((cpu1.node - cpu0.node) * 1000) / tasks,
        server: ((cpu1.server - cpu0.server) * 1000) / tasks,
      },
    };
  } finally {
    await sys.close();
  }
}

export async function benchLoad(ctx: BenchContext): Promise<void> {
  const tasks = ctx.quick ? 10 : 500;
  const finalityMs = ctx.quick ? 500 : 3000;
  const rawCpu0 = cpuSeconds();
  const rawProofs = ctx.quick ? 2 : 10;
  const raw = await rawProofsPerSecond(rawProofs);
  const rawCpuMs = ((cpuSeconds() - rawCpu0) * 1000) / rawProofs;
  const on = await burst(ctx, tasks, finalityMs, true);
  const inputs = {
    tasks,
    chains_of: CHAIN,
    submission_concurrency: 16,
    embedded_finality_ms: finalityMs,
    proof_workers: 1,
    worker_threads: 1,
  };
  const figuresOf = (r: BurstRun) => ({
    tasks_per_s: r.tasksPerS,
    p50_latency_ms: r.p50,
    p99_latency_ms: r.p99,
    submit_ms: r.submitMs,
    all_confirmed_ms: r.lastMs,
    lost: r.lost,
    speculative: r.statuses.speculative ?? 0,
    integrity_problems: r.integrityProblems,
    lamports_locked_in_bonds: r.locked,
    cpu_ms_per_task_workers: r.cpuMsPerTask.node,
    cpu_ms_per_task_server: r.cpuMsPerTask.server,
  });
  const describe = (r: BurstRun) =>
    `${tasks - r.lost}/${tasks} confirmed (${r.lost} lost), ${r.integrityProblems} integrity problem(s), ${r.locked} lamports still locked in bonds; ` +
    `submitted in ${r.submitMs} ms; p50/p99 latency ${Math.round(r.p50)}/${Math.round(r.p99)} ms (the workflow's start to its confirmation); ` +
    `how they ran: ${Object.entries(r.statuses)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; ` +
    `CPU per task: ${Math.round(r.cpuMsPerTask.node)} ms in the worker process (task and proof workers, client), ` +
    `${Math.round(r.cpuMsPerTask.server)} ms in the Temporal server, against ${Math.round(rawCpuMs)} ms for one raw proof`;
  const clean = (r: BurstRun) => r.lost === 0 && r.integrityProblems === 0 && r.locked === 0;
  ctx.record({
    key: 'load.burst',
    title: `load: ${tasks} tasks submitted at once`,
    inputs,
    figures: { ...figuresOf(on), raw_proofs_per_s: raw, raw_proof_cpu_ms: rawCpuMs },
    figure: { name: 'tasks confirmed/s', value: on.tasksPerS, unit: '/s' },
    baseline: { name: 'raw snarkjs proofs/s', value: raw, unit: '/s' },
    ratio: on.tasksPerS / raw,
    ratioMeaning: 'confirmed tasks/s / raw proofs/s (one proof per task)',
    target: '≥ 0.85 of raw; nothing lost, no bond locked',
    met: on.tasksPerS / raw >= 0.85 && clean(on),
    notes: describe(on),
  });
  // Recorded as each burst ends: a stalled second burst does not lose the first.
  const off = await burst(ctx, tasks, finalityMs, false);
  ctx.record({
    key: 'load.on_off',
    title: `load: ${tasks} tasks submitted at once, speculation on ÷ off`,
    inputs,
    figures: { ...figuresOf(off), on_tasks_per_s: on.tasksPerS },
    figure: { name: 'tasks confirmed/s, speculation on', value: on.tasksPerS, unit: '/s' },
    baseline: { name: 'the same burst with speculation off', value: off.tasksPerS, unit: '/s' },
    ratio: on.tasksPerS / off.tasksPerS,
    ratioMeaning: 'on / off',
    target: '≥ 0.95 (under 5% fewer tasks/s with speculation on)',
    met: on.tasksPerS / off.tasksPerS >= 0.95 && clean(off),
    notes: `speculation off: ${describe(off)}`,
  });
}
