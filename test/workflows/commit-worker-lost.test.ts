/**
 * A worker SIGKILLed while a task's commitment waits for finality: the commit and finality activities
 * heartbeat, so the server notices the dead worker within the heartbeat timeout (10 s) and another
 * worker takes the wait over, instead of the task stalling for the activity's 2-minute start-to-close.
 * Against the real dev server, proofs and SVM, the worker as a process of its own.
 */
import type { ChildProcess } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { taskWorkflowId } from '../../shared/task-model';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, type TestSystem } from '../helpers/system';
import { spawnWorker } from '../helpers/worker-child';

const FINALITY_MS = 8_000;
let sys: TestSystem;
const children: ChildProcess[] = [];
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

const startWorker = () => spawnWorker(sys, children, { embeddedFinalityMs: FINALITY_MS, args: ['--http-port', 'off'] });

beforeAll(async () => {
  sys = await startTestSystem({ name: 'commit-lost' });
  await sys.fundAgent('patient');
  await sys.stopWorker();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sys?.close();
});

test('a worker killed while a commitment awaits finality stalls the task for seconds, not minutes', async () => {
  const victim = await startWorker();
  const task = await sys.submit({ type: 'compute', payload: { value: 5 }, agent: 'patient' });
  const handle = sys.client.workflow.getHandle(taskWorkflowId(task));
  await pollUntil(
    `the finality wait to run on worker ${victim.pid}`,
    async () => (await handle.describe()).raw.pendingActivities ?? [],
    (pending) =>
      pending.some(
        (a) =>
          a.activityType?.name === 'awaitFinality' &&
          a.state === STARTED &&
          (a.lastWorkerIdentity ?? '').startsWith(`${victim.pid}@`),
      ),
    60_000,
    100,
  );
  victim.kill('SIGKILL');
  await new Promise((r) => victim.once('exit', r));
  const killedAt = Date.now();
  const worker = await startWorker();

  expect(await sys.wait(task, 180_000)).toMatchObject({ status: 'confirmed' });
  const stallMs = Date.now() - killedAt;
  process.stderr.write(
    `[commit-lost] confirmed ${stallMs} ms after the kill (finality ${FINALITY_MS} ms, heartbeat timeout 10 s)\n`,
  );
  // The heartbeat timeout, a retry and the finality wait again; the start-to-close would be 120 s.
  expect(stallMs).toBeLessThan(40_000);
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
}, 240_000);
