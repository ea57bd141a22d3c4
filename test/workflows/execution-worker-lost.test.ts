/**
 * Found with the chaos run's kills: a worker SIGKILLed during each of a task's three execution attempts
 * made the task `failed/execution_failed` and slashed its agent ("activity StartToClose timeout"),
 * although its payload was valid and nothing it did was wrong. A worker that dies is the system's
 * fault: the execution runs again, the task confirms and its bond is released in full.
 */
import type { ChildProcess } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { taskWorkflowId } from '../../shared/task-model';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, type TestSystem } from '../helpers/system';
import { spawnWorker } from '../helpers/worker-child';

let sys: TestSystem;
const children: ChildProcess[] = [];
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

function startWorker(): Promise<ChildProcess> {
  return spawnWorker(sys, children, { embeddedFinalityMs: 0, args: ['--http-port', 'off'] });
}

beforeAll(async () => {
  sys = await startTestSystem({ name: 'exec-lost' });
  await sys.fundAgent('innocent');
  await sys.stopWorker();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sys?.close();
});

test('a worker killed during every execution attempt of a valid speculative task does not fail it or slash its agent', async () => {
  let worker = await startWorker();
  const root = await sys.submit({ type: 'compute', payload: { value: 1 }, agent: 'innocent' });
  const dependent = await sys.submit({
    type: 'compute',
    payload: { value: 2, work_ms: 20_000 },
    dependsOn: root,
    agent: 'innocent',
  });
  const handle = sys.client.workflow.getHandle(taskWorkflowId(dependent));
  // The kills are for the dependent's executions only: a kill during the root's commitment would hold
  // the root for its commit activity's 2-minute timeout, past the dependent's confirmation timeout.
  expect((await sys.wait(root)).status).toBe('confirmed');
  for (const attempt of [1, 2, 3]) {
    // The attempt counts only once this worker runs it: an attempt on a dead worker looks started until it times out.
    const victim = worker;
    await pollUntil(
      `execution attempt ${attempt} to run on worker ${victim.pid}`,
      async () => (await handle.describe()).raw.pendingActivities ?? [],
      (pending) =>
        pending.some(
          (a) =>
            a.activityType?.name === 'executeTask' &&
            a.state === STARTED &&
            a.attempt === attempt &&
            (a.lastWorkerIdentity ?? '').startsWith(`${victim.pid}@`),
        ),
      120_000,
      200,
    );
    victim.kill('SIGKILL');
    await new Promise((r) => victim.once('exit', r));
    worker = await startWorker();
  }
  const final = await sys.wait(dependent, 240_000);
  expect(final).toMatchObject({
    status: 'confirmed',
    speculation_status: 'speculative',
    rollback_reason: null,
    bond: { state: 'released' },
  });
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
}, 420_000);
