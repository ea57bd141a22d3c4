/**
 * An undo interrupted by a worker's death finishes on the next worker: a `record` task rolls back (its
 * parent's proof fails), its undo waits `undo_ms` before deleting the row, the worker running it is
 * SIGKILLed in that wait, and after a new worker starts the row is gone and the undo recorded. Real dev
 * server, Groth16, SVM and SQLite; the worker is a process of its own.
 */
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { RecordsStore } from '../../activities/task-types/records-store';
import { getTaskState } from '../../client/tasks';
import { taskWorkflowId } from '../../shared/task-model';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';
import { spawnWorker } from '../helpers/worker-child';

let sys: TestSystem;
let store: RecordsStore;
let recordsDb: string;
const children: ChildProcess[] = [];
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

function startWorker(): Promise<ChildProcess> {
  return spawnWorker(sys, children, {
    embeddedFinalityMs: 0,
    args: ['--http-port', 'off'],
    env: { AGENC_RECORDS_DB: recordsDb },
  });
}

beforeAll(async () => {
  // Optimistic proofs off: the failing task proves only once the task above it is confirmed, so its
  // record dependent has written its row by then.
  sys = await startTestSystem({
    name: 'undo-killed',
    config: speculativeConfig({ speculation: { features: { enable_optimistic_proofs: false } } }),
  });
  recordsDb = path.join(sys.dir, 'records.sqlite');
  store = new RecordsStore(recordsDb);
  await sys.fundAgent('default');
  await sys.stopWorker();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  store?.close();
  await sys?.close();
});

test('a worker killed in the middle of an undo leaves no row behind once another worker runs', async () => {
  let worker = await startWorker();
  await sys.submit({ type: 'compute', payload: { value: 1, work_ms: 3000 }, taskId: 'uk-above' });
  await sys.submit({
    type: 'compute',
    payload: { value: 2, claimed_output: '12345' },
    dependsOn: 'uk-above',
    taskId: 'uk-root',
  });
  await sys.submit({
    type: 'record',
    payload: { value: 3, undo_ms: 8000 },
    dependsOn: 'uk-root',
    taskId: 'uk-rec',
  });
  await pollUntil(
    'uk-rec to speculate with its row written',
    () => getTaskState(sys.client, 'uk-rec'),
    (s) => s.speculation_status === 'speculative' && s.undo?.state === 'registered' && Boolean(s.result),
    60_000,
  );
  expect(store.rowsOf('uk-rec')).toHaveLength(1);

  const handle = sys.client.workflow.getHandle(taskWorkflowId('uk-rec'));
  const victim = worker;
  await pollUntil(
    `the undo to run on worker ${victim.pid}`,
    async () => (await handle.describe()).raw.pendingActivities ?? [],
    (pending) =>
      pending.some(
        (a) =>
          a.activityType?.name === 'undoTask' &&
          a.state === STARTED &&
          (a.lastWorkerIdentity ?? '').startsWith(`${victim.pid}@`),
      ),
    90_000,
    200,
  );
  // In the middle of the undo: the row is still there.
  expect(store.rowsOf('uk-rec')).toHaveLength(1);
  victim.kill('SIGKILL');
  await new Promise((r) => victim.once('exit', r));
  worker = await startWorker();

  const final = await sys.wait('uk-rec', 180_000);
  expect(final).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'parent_failed',
    bond: { state: 'released' },
    undo: { state: 'undone' },
  });
  expect(final.undo!.detail).toMatch(/deleted 1 row \(task uk-rec, attempt 1\)/);
  expect(store.rowsOf('uk-rec')).toEqual([]);
  expect(store.rowsOf('uk-root')).toEqual([]); // a compute task writes nothing
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
}, 420_000);
