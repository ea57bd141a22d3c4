/**
 * A rollback undoes the agent's own effects, against the real dev server, Groth16 and the SVM, with a real
 * store: `record` tasks write rows to a SQLite file. A chain of them speculates on a root whose proof then
 * fails: every speculative row is gone afterwards, deepest first, while the row of a task that confirmed stays.
 */
import * as path from 'node:path';
import { RecordsStore } from '../../activities/task-types/records-store';
import { getTaskState } from '../../client/tasks';
import type { TaskState } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { runAgenc } from '../helpers/agenc-cli';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let store: RecordsStore;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'undo',
    config: speculativeConfig({ speculation: { proof: { batch_size: 1 } } }),
    worker: { embeddedFinalityMs: 0, activityInterceptors: [gate.interceptor] },
  });
  // The in-process worker's record tasks write here (read when a record task first runs).
  process.env.AGENC_RECORDS_DB = path.join(sys.dir, 'records.sqlite');
  store = new RecordsStore(process.env.AGENC_RECORDS_DB);
  await sys.fundAgent('default');
});
afterAll(async () => {
  gate.releaseAll();
  store?.close();
  await sys?.close();
});

const record = (taskId: string, value: number, dependsOn?: string) =>
  sys.submit({ type: 'record', payload: { value, note: `row of ${taskId}` }, dependsOn, taskId });

const undoneAt = (s: TaskState) => Date.parse(s.undo!.at!);

test("a speculative chain of record tasks whose root fails: every speculative row is undone, deepest first; a confirmed task's row stays", async () => {
  await record('un-kept', 1);
  expect(await sys.wait('un-kept')).toMatchObject({ status: 'confirmed', undo: { state: 'kept' } });

  const releaseRoot = gate.hold('generateProof', 'un-root');
  // The root claims an output its proof cannot show: it executes, its dependents speculate, then it fails.
  await sys.submit({ type: 'compute', payload: { value: 2, claimed_output: '12345' }, taskId: 'un-root' });
  await record('un-a', 3, 'un-root');
  await record('un-b', 4, 'un-a');
  await record('un-c', 5, 'un-b');
  // A type without an undo beside them: its rollback says its effects were not undone.
  await sys.submit({ type: 'compute', payload: { value: 6 }, dependsOn: 'un-a', taskId: 'un-d' });
  const chain = ['un-a', 'un-b', 'un-c'];
  await pollUntil(
    'the chain to speculate with its rows written',
    () => Promise.all(chain.map((id) => getTaskState(sys.client, id))),
    (states) =>
      states.every((s) => s.speculation_status === 'speculative' && s.result && s.undo?.state === 'registered'),
    60_000,
  );
  for (const id of chain) expect(store.rowsOf(id)).toHaveLength(1);

  releaseRoot();
  expect(await sys.wait('un-root')).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed' });
  const [a, b, c] = await Promise.all(chain.map((id) => sys.wait(id, 90_000)));
  for (const s of [a!, b!, c!]) {
    expect(s).toMatchObject({ status: 'rolled_back', bond: { state: 'released' }, undo: { state: 'undone' } });
    expect(s.undo!.detail).toMatch(new RegExp(`deleted 1 row .*task ${s.task_id}, attempt 1`));
    expect(store.rowsOf(s.task_id)).toEqual([]);
  }
  // Each undid its effects only after its dependents had undone theirs.
  expect(undoneAt(c!)).toBeLessThanOrEqual(undoneAt(b!));
  expect(undoneAt(b!)).toBeLessThanOrEqual(undoneAt(a!));
  expect(await sys.wait('un-d')).toMatchObject({ status: 'rolled_back', undo: { state: 'not_declared' } });
  expect(store.rowsOf('un-kept')).toHaveLength(1);

  const status = await runAgenc(['--namespace', sys.namespace, 'task', 'status', 'un-a']);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/effects: +undone at .*: deleted 1 row \(task un-a, attempt 1\)/);
  const d = await runAgenc(['--namespace', sys.namespace, 'task', 'status', 'un-d']);
  expect(d.stdout).toMatch(/effects: +not undone: its type declares no undo/);
}, 180_000);
