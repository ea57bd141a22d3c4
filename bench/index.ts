/**
 * `npm run bench`: every figure is a ratio against a baseline measured in the same run.
 *
 * 1. Proofs: raw `snarkjs.groth16.fullProve` against the `generateProof` activity function (bench/proof.ts).
 * 2. Proofs through the `agenc-proofs` queue: N root tasks submitted at once to a real worker on a
 *    private Temporal dev server, proofs/second over the whole run, against raw snarkjs.
 * 3. Speculation: a chain of 5 dependent tasks, each standing for 2 s of agent work (`work_ms`), with
 *    speculation on against the same chain with speculation off, on a chain that takes 3 s to finalize
 *    a commit: the time until every result is available, and until everything is confirmed.
 *
 *   npm run bench [-- --n 20 --chain 5]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import pino from 'pino';
import { stringify } from 'smol-toml';
import { createStakeOperator } from '../activities/chain';
import { readTomlFile, TEMPLATE_PATH } from '../config/load';
import { setConfigUpdate } from '../shared/messages';
import { controlHandle } from '../temporal/control';
import { submitTask, waitForTask } from '../client/tasks';
import { freePort, startDevServer } from '../workers/temporal-dev-server';
import { installRuntime } from '../workers/runtime';
import { startWorkerProcess } from '../workers/worker-process';
import { benchProofs } from './proof';

const say = (m: string) => process.stdout.write(`${m}\n`);

async function main(): Promise<void> {
  const opts = new Command('bench').option('--n <count>', 'proofs / tasks per measurement', '20').option('--chain <length>', 'chain length for the speculation benchmark', '5').parse().opts<{ n: string; chain: string }>();
  const n = Number(opts.n);
  const chainLength = Number(opts.chain);
  process.env.RUST_LOG ??= 'error';

  say(`── 1. proofs: raw snarkjs vs the generateProof activity (n=${n})`);
  const proofs = await benchProofs({ n, print: true });

  say(`\n── 2. proofs through the agenc-proofs queue (n=${n} root tasks at once, real Temporal dev server, real SVM)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agenc-bench-'));
  const configFile = path.join(dir, 'speculation.toml');
  const raw = readTomlFile(TEMPLATE_PATH) as { speculation: Record<string, unknown> };
  raw.speculation.enabled = true;
  (raw.speculation.features as Record<string, unknown>).rollout_percentage = 100;
  (raw.speculation.proof as Record<string, unknown>).worker_threads = 2;
  writeFileSync(configFile, stringify(raw));
  const server = await startDevServer({ address: `127.0.0.1:${await freePort()}`, headless: true, dbFile: path.join(dir, 'temporal.db') });
  const logger = pino({ level: 'warn' });
  // Warnings only from the SDK and the workflows too, so the figures are not lost among task logs.
  process.env.TEMPORAL_LOG_LEVEL ??= 'WARN';
  installRuntime(logger, { sdkMetricsPort: 0 });
  const startWorker = (embeddedFinalityMs: number) =>
    startWorkerProcess({
      logger,
      address: server.address,
      configFile,
      httpPort: null,
      embeddedFinalityMs,
      stake: { accountsFile: path.join(dir, 'chain.json'), keysDir: path.join(dir, 'keys') },
    });
  // Section 2 measures proving through the queue: no emulated finality in the way.
  let worker = await startWorker(0);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  try {
    await createStakeOperator(worker.stakeDeps!).stakeInit({ agent: 'bench', amount: 1_000_000_000 });
    const submitAll = async (count: number, mk: (i: number) => Promise<string>) => Promise.all(Array.from({ length: count }, (_, i) => mk(i)));
    const waitAll = (ids: string[]) => Promise.all(ids.map((id) => waitForTask(client, id, { timeoutMs: 600_000, pollMs: 100 })));

    // Warm-up: one task, so the first-proof cost is not in the measurement.
    await waitAll(await submitAll(1, async () => (await submitTask(client, { type: 'compute', payload: { value: 1 }, agent: 'bench' })).task_id));
    const t0 = Date.now();
    const ids = await submitAll(n, async (i) => (await submitTask(client, { type: 'compute', payload: { value: i + 2 }, agent: 'bench' })).task_id);
    const results = await waitAll(ids);
    const queueMs = Date.now() - t0;
    const confirmed = results.filter((r) => r.state.status === 'confirmed').length;
    const queuePerSecond = (confirmed / queueMs) * 1000;
    say(`${confirmed}/${n} tasks confirmed in ${queueMs} ms: ${queuePerSecond.toFixed(2)} proven tasks/s through Temporal ` +
      `(execute, prove on agenc-proofs, verify, commit) vs ${proofs.raw.proofsPerSecond.toFixed(2)} raw snarkjs proofs/s: ` +
      `ratio ${(queuePerSecond / proofs.raw.proofsPerSecond).toFixed(2)}`);
    await worker.shutdown();
    worker = await startWorker(3000);

    say(`\n── 3. speculation: a chain of ${chainLength} dependent tasks, end to end`);
    const runChain = async () => {
      const start = Date.now();
      let parent: string | undefined;
      const chain: string[] = [];
      for (let i = 0; i < chainLength; i++) {
        parent = (await submitTask(client, { type: 'compute', payload: { value: 100 + i, work_ms: 2000 }, dependsOn: parent, agent: 'bench' })).task_id;
        chain.push(parent);
      }
      const done = await waitAll(chain);
      const at = (iso?: string) => (iso ? Date.parse(iso) - start : NaN);
      return {
        resultsMs: Math.max(...done.map((d) => at(d.state.timestamps.executed))),
        confirmedMs: Math.max(...done.map((d) => at(d.state.timestamps.confirmed))),
        speculative: done.filter((d) => d.state.speculation_status === 'speculative').length,
        confirmed: done.filter((d) => d.state.status === 'confirmed').length,
      };
    };
    await controlHandle(client).executeUpdate(setConfigUpdate, { args: [{ 'speculation.enabled': false }] });
    const off = await runChain();
    await controlHandle(client).executeUpdate(setConfigUpdate, { args: [{ 'speculation.enabled': true }] });
    const on = await runChain();
    const line = (label: string, r: typeof on) =>
      `${label} every result after ${r.resultsMs} ms, all confirmed after ${r.confirmedMs} ms (${r.confirmed}/${chainLength} confirmed, ${r.speculative} speculative)`;
    say(line('speculation off:', off));
    say(line('speculation on: ', on));
    say(`speed-up: results ${(off.resultsMs / on.resultsMs).toFixed(2)}x, confirmation ${(off.confirmedMs / on.confirmedMs).toFixed(2)}x`);
  } finally {
    await connection.close();
    await worker.shutdown();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
