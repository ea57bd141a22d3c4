/**
 * The Temporal dev server dies (SIGKILL) while `speculation-control` holds live configuration, an
 * agent's cooldown, active speculative tasks and admitted tasks, and comes back on the same SQLite
 * file and port. The worker in this process keeps running and reconnects by itself (the SDK retries
 * its polls); the control workflow's status is the same afterwards and the tasks finish as they would have.
 * A server of its own, not the suite's: killing the suite's would take every other test file with it.
 */
import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createStakeOperator } from '../../activities/chain';
import { controlHandle, controlStatus } from '../../temporal/control';
import { getTaskState, submitTask, waitForTask } from '../../client/tasks';
import { setConfigUpdate, type ControlStatus } from '../../shared/messages';
import type { TaskState } from '../../shared/task-model';
import {
  freePort,
  isListening,
  startDevServer,
  type DevServer,
  type DevServerOptions,
} from '../../workers/temporal-dev-server';
import { startWorkerProcess, type WorkerProcess } from '../../workers/worker-process';
import { testRunDir } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { installTestRuntime } from '../helpers/runtime';
import { SPECULATIVE_CONFIG, testWorkerOptions, writeConfig } from '../helpers/system';

let server: DevServer | undefined;
let worker: WorkerProcess | undefined;
let connection: Connection | undefined;

afterAll(async () => {
  await worker?.shutdown().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await server?.stop();
});

/** What the control workflow must keep across the restart. */
function durable(s: ControlStatus) {
  return {
    config: s.config,
    config_version: s.config_version,
    enabled: s.enabled,
    paused: s.paused,
    draining: s.draining,
    rollout_percentage: s.rollout_percentage,
    cooldowns: s.cooldowns,
    active_tasks: s.active_tasks,
    active: [...s.active].sort((a, b) => a.taskId.localeCompare(b.taskId)),
    open_tasks: s.open_tasks,
    updated_at: s.updated_at,
  };
}

test('speculation-control keeps config, cooldowns and counts through a SIGKILL of the server; the tasks finish correctly', async () => {
  installTestRuntime();
  const dir = mkdtempSync(path.join(testRunDir(), 'server-restart-'));
  const address = `127.0.0.1:${await freePort()}`;
  const serverOptions: DevServerOptions = {
    address,
    headless: true,
    namespace: 'default',
    dbFile: path.join(dir, 'temporal.db'),
    logFile: path.join(dir, 'temporal-server.log'),
  };
  server = await startDevServer(serverOptions);
  expect(server.started).toBe(true);

  worker = await startWorkerProcess(
    testWorkerOptions({ address, namespace: 'default', dir, configFile: writeConfig(dir, SPECULATIVE_CONFIG) }),
  );
  let workerStopped = false;
  void worker.done.finally(() => (workerStopped = true));
  connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const operator = createStakeOperator(worker.stakeDeps!);
  await operator.stakeInit({ agent: 'cheater', amount: 1_000_000_000 });
  await operator.stakeInit({ agent: 'steady', amount: 1_000_000_000 });
  const submit = async (agent: string, payload: unknown, dependsOn?: string) =>
    (await submitTask(client, { type: 'compute', payload, dependsOn, agent }, { keysDir: path.join(dir, 'keys') }))
      .task_id;
  const finish = async (id: string): Promise<TaskState> => {
    const { state, timedOut } = await waitForTask(client, id, { timeoutMs: 120_000 });
    if (timedOut) throw new Error(`task ${id} still ${state.status}`);
    return state;
  };

  // Live configuration, changed through the control workflow's Update (what `agenc config set` does).
  const configured = await controlHandle(client).executeUpdate(setConfigUpdate, {
    args: [{ 'speculation.max_parallel_branches': 3, 'speculation.stake.cooldown_period_ms': 3_600_000 }],
  });
  expect(configured.config.speculation.max_parallel_branches).toBe(3);

  // A cooldown: a speculative dependent claims a wrong output, its proof fails, its bond is slashed.
  const honest = await submit('cheater', { value: 1 });
  const cheat = await submit('cheater', { value: 2, claimed_output: '7' }, honest);
  expect(await finish(honest)).toMatchObject({ status: 'confirmed' });
  expect(await finish(cheat)).toMatchObject({
    status: 'failed',
    rollback_reason: 'proof_failed',
    speculation_status: 'speculative',
    bond: { state: 'slashed' },
  });
  await pollUntil(
    "the cheater's cooldown",
    () => controlStatus(client),
    (s) => Boolean(s.cooldowns.cheater),
    10_000,
    200,
  );

  // Active speculative tasks (executing for 20 s on their parent's unconfirmed result) and an admitted root.
  const root = await submit('steady', { value: 3 });
  const speculating = [
    await submit('steady', { value: 4, work_ms: 20_000 }, root),
    await submit('steady', { value: 5, work_ms: 20_000 }, root),
  ];
  const busyRoot = await submit('steady', { value: 6, work_ms: 20_000 });
  await pollUntil(
    'both dependents to speculate and their parent to confirm',
    () => Promise.all([root, ...speculating].map((id) => getTaskState(client, id))),
    ([r, ...deps]) =>
      r!.status === 'confirmed' &&
      deps.every((d) => d.speculation_status === 'speculative' && d.status === 'executing'),
    30_000,
    200,
  );
  // A final task frees its slot with a signal sent after its state reads final: wait for the count to settle.
  const before = await pollUntil(
    'two active speculative tasks and three admitted ones',
    () => controlStatus(client),
    (s) => s.active_tasks === 2 && s.open_tasks === 3,
    10_000,
    200,
  );
  expect(Object.keys(before.cooldowns)).toEqual(['cheater']);
  expect(before.config_version).toBe(configured.config_version);

  process.kill(server.pid!, 'SIGKILL');
  await pollUntil(
    'the server to be gone',
    () => isListening(address),
    (listening) => !listening,
    10_000,
    100,
  );
  server = await startDevServer(serverOptions);
  expect(server.started).toBe(true);

  // A query is answered by the worker: it succeeds once the worker has reconnected to the new server.
  const after = await pollUntil(
    'the control workflow to answer after the restart',
    () => controlStatus(client),
    () => true,
    60_000,
    500,
  );
  expect(durable(after)).toEqual(durable(before));
  expect(workerStopped).toBe(false);

  const finals = await Promise.all([...speculating, busyRoot].map(finish));
  for (const s of finals.slice(0, 2))
    expect(s).toMatchObject({ status: 'confirmed', speculation_status: 'speculative', bond: { state: 'released' } });
  expect(finals[2]).toMatchObject({ status: 'confirmed', speculation_status: 'non_speculative', bond: null });
  const settled = await pollUntil(
    'the slots to be freed',
    () => controlStatus(client),
    (s) => s.active_tasks === 0 && s.open_tasks === 0,
    20_000,
    200,
  );
  expect(settled.cooldowns).toEqual(before.cooldowns);
  expect(settled.config_version).toBe(before.config_version);
}, 300_000);
