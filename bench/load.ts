/**
 * 6. Load: N tasks submitted at once (chains of 5, speculation on; at most 16 submissions in flight,
 * loopback only) with real proofs and the embedded finality. Tasks/s to confirmation, latency
 * (submission to confirmation) p50/p99, nothing lost (every task confirmed), no bond left locked (the
 * chain's integrity check and the agent's locked stake). Every task needs one proof, so the baseline is
 * raw snarkjs proofs/s on the same machine, in the same run: the ratio is the share of the proof
 * ceiling the whole system reaches.
 */
import { createStakeOperator } from '../activities/chain';
import { benchConfig, type BenchContext, ms, pool, quantile } from './harness';
import { rawProofsPerSecond } from './proofs';

const AGENT = 'bench';
const CHAIN = 5;

export async function benchLoad(ctx: BenchContext): Promise<void> {
  const tasks = ctx.quick ? 10 : 500;
  const finalityMs = ctx.quick ? 500 : 3000;
  const raw = await rawProofsPerSecond(ctx.quick ? 2 : 10);
  const sys = await ctx.system('load', { config: benchConfig(), worker: { embeddedFinalityMs: finalityMs } });
  try {
    await sys.fund(AGENT);
    await sys.result(await sys.submit({ type: 'compute', payload: { value: 1 }, agent: AGENT })); // warm-up
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
    const confirmed = states.filter((s) => s.status === 'confirmed');
    const lastMs = Math.max(...confirmed.map((s) => ms(s.timestamps.confirmed))) - t0;
    const latencies = confirmed.map((s) => ms(s.timestamps.confirmed) - ms(s.timestamps.pending));
    const perSecond = (confirmed.length * 1000) / lastMs;
    const operator = createStakeOperator(sys.worker.stakeDeps!);
    const integrity = await operator.checkIntegrity({ liveBonds: [] });
    const locked = (await operator.stakeStatus({ agent: AGENT })).agents[0]?.locked_in_bonds ?? 0;
    const lost = tasks - confirmed.length;
    ctx.record({
      key: 'load.burst',
      title: `load: ${tasks} tasks submitted at once`,
      inputs: {
        tasks,
        chains_of: CHAIN,
        submission_concurrency: 16,
        embedded_finality_ms: finalityMs,
        proof_workers: 1,
        worker_threads: 1,
      },
      figures: {
        tasks_per_s: perSecond,
        p50_latency_ms: quantile(latencies, 0.5),
        p99_latency_ms: quantile(latencies, 0.99),
        submit_ms: submitMs,
        all_confirmed_ms: lastMs,
        lost,
        speculative: confirmed.filter((s) => s.speculation_status === 'speculative').length,
        integrity_problems: integrity.problems.length,
        lamports_locked_in_bonds: locked,
        raw_proofs_per_s: raw,
      },
      figure: { name: 'tasks confirmed/s', value: perSecond, unit: '/s' },
      baseline: { name: 'raw snarkjs proofs/s', value: raw, unit: '/s' },
      ratio: perSecond / raw,
      ratioMeaning: 'confirmed tasks/s / raw proofs/s (one proof per task)',
      target: 'nothing lost, no bond locked',
      met: lost === 0 && integrity.problems.length === 0 && locked === 0,
      notes:
        `${confirmed.length}/${tasks} confirmed (${lost} lost), ${integrity.problems.length} integrity problem(s), ${locked} lamports still locked in bonds; ` +
        `submitted in ${submitMs} ms; latency from the workflow's start to its confirmation`,
    });
  } finally {
    await sys.close();
  }
}
