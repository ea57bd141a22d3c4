/**
 * Limits of the server that a busy system meets, found here on the real dev server, and what stands
 * before each: MAX_DEPENDENTS keeps a parent's history and its outgoing signals well under the server's
 * caps (measured from real histories), a submission past it is refused naming it; the control
 * workflow's state stays within what it can carry across continue-as-new however long task ids are.
 */
import { AdmissionError, getTaskState } from '../../client/tasks';
import { admitTask, controlHandle } from '../../temporal/control';
import { controlSnapshotQuery, registerDependentSignal } from '../../shared/messages';
import { MAX_DEPENDENTS, taskWorkflowId } from '../../shared/task-model';
import { STATE_BUDGET_BYTES } from '../../workflows/control-decisions';
import { ActivityGate } from '../helpers/activity-gate';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

/** The dev server's (and Temporal's default) limits. */
const HISTORY_EVENTS_LIMIT = 51_200;
const PENDING_SIGNALS_LIMIT = 2_000;
const PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024;

const agent = 'scaler';
let sys: TestSystem;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'scale-limits',
    config: speculativeConfig({ speculation: { limits: { max_pending_operations: 50_000 } } }),
    worker: { activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent(agent);
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const historyLength = async (taskId: string) =>
  (await sys.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory()).events!.length;

test('each speculative dependent adds a measured number of events to its parent: MAX_DEPENDENTS keeps history and outgoing signals at most at half their limits', async () => {
  const stamp = Date.now();
  const lone = await sys.submit({ taskId: `lone-${stamp}`, type: 'compute', payload: { value: 1 }, agent });
  const parent = `many-${stamp}`;
  const release = gate.hold('generateProof', parent);
  await sys.submit({ taskId: parent, type: 'compute', payload: { value: 1 }, agent });
  const n = 3;
  const children: string[] = [];
  for (let i = 0; i < n; i++)
    children.push(await sys.submit({ type: 'compute', payload: { value: i }, dependsOn: parent, agent }));
  for (const c of children)
    await pollUntil(
      `${c} speculates`,
      () => getTaskState(sys.client, c),
      (s) => s.speculation_status === 'speculative',
    );
  release();
  for (const id of [lone, parent, ...children]) expect(await sys.wait(id)).toMatchObject({ status: 'confirmed' });

  const perDependent = ((await historyLength(parent)) - (await historyLength(lone))) / n;
  const atTheCap = (await historyLength(lone)) + MAX_DEPENDENTS * perDependent;
  process.stderr.write(
    `[scale] ${perDependent} history events per speculative dependent; at MAX_DEPENDENTS ${MAX_DEPENDENTS}: ${atTheCap} events\n`,
  );
  expect(perDependent).toBeGreaterThan(0);
  expect(atTheCap).toBeLessThan(HISTORY_EVENTS_LIMIT / 2);
  // A parent signals every dependent at once on each change.
  expect(MAX_DEPENDENTS).toBeLessThanOrEqual(PENDING_SIGNALS_LIMIT / 2);
});

test('a parent with MAX_DEPENDENTS dependents refuses one more at submission, naming the limit', async () => {
  const parent = `crowded-${Date.now()}`;
  gate.hold('generateProof', parent);
  await sys.submit({ taskId: parent, type: 'compute', payload: { value: 2 }, agent });
  // Registrations as dependents send them: the parent records each (its answers go nowhere).
  const handle = sys.client.workflow.getHandle(taskWorkflowId(parent));
  for (let i = 0; i < MAX_DEPENDENTS; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, j) => handle.signal(registerDependentSignal, { taskId: `phantom-${i + j}` })),
    );
  }
  await pollUntil(
    'every registration recorded',
    () => getTaskState(sys.client, parent),
    (s) => s.dependents.length === MAX_DEPENDENTS,
    120_000,
    1000,
  );

  const refused = await sys
    .submit({ type: 'compute', payload: { value: 3 }, dependsOn: parent, agent })
    .catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(AdmissionError);
  expect(refused).toMatchObject({ field: 'depends_on', code: 'too_many_dependents' });
  expect((refused as Error).message).toMatch(
    new RegExp(`already has ${MAX_DEPENDENTS} dependents, the most one task may have`),
  );
  await handle.terminate('test done');
});

test("speculation-control's state stays within what it carries across continue-as-new: past its budget a submission is refused, saying why", async () => {
  // The longest task ids there are (64 characters): the runbook's max_pending_operations of 50,000 would not fit.
  const id = (i: number) => `${String(i).padStart(8, '0')}-${'x'.repeat(55)}`;
  let admitted = 0;
  let refusal: string | undefined;
  while (!refusal && admitted < 50_000) {
    const answers = await Promise.all(Array.from({ length: 500 }, (_, j) => admitTask(sys.client, id(admitted + j))));
    admitted += answers.filter((a) => a.admitted).length;
    refusal = answers.find((a) => !a.admitted)?.message;
  }
  process.stderr.write(`[scale] 64-character ids: ${admitted} admissions fit; refused then: ${refusal}\n`);
  expect(refusal).toMatch(
    /^speculation-control's state is full: \d+ open tasks take about \d+ of the 1900000 bytes it carries across continue-as-new/,
  );
  const snapshot = await controlHandle(sys.client).query(controlSnapshotQuery);
  const bytes = Buffer.byteLength(JSON.stringify(snapshot));
  expect(bytes).toBeLessThan(PAYLOAD_LIMIT_BYTES);
  expect(bytes).toBeGreaterThan(STATE_BUDGET_BYTES * 0.95);
});
