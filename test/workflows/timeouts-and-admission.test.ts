/** Confirmation timeout and admission control, against the real dev server, proofs and SVM. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { AdmissionError, submitTask } from '../../client/tasks';
import { taskWorkflowId } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { submitAsAgent } from '../helpers/agent-keys';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const gate = new ActivityGate();
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'timeouts',
    config: speculativeConfig({
      speculation: { confirmation_timeout_ms: 1000, limits: { max_pending_operations: 4 } },
    }),
    worker: { activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent('default');
});
afterAll(() => sys?.close());

test("a speculative task whose parent's commitment does not land within confirmation_timeout_ms rolls back, bond released", async () => {
  // The parent's proof takes 5 s, so its commitment lands long after the child's 1 s confirmation timeout.
  const parent = 'slow-parent';
  gate.delay('generateProof', parent, 5000);
  await sys.submit({ type: 'compute', payload: { value: 1 }, taskId: parent });
  const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: parent });
  expect(await sys.wait(child)).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'confirmation_timeout',
    speculation_status: 'speculative',
    bond: { state: 'released' },
  });
  expect((await sys.wait(parent)).status).toBe('confirmed');
});

async function refusal(req: Parameters<typeof submitTask>[1]): Promise<AdmissionError> {
  const err = await submitAsAgent(sys.client, sys.keysDir, req).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdmissionError);
  return err as AdmissionError;
}

async function notStarted(taskId: string): Promise<void> {
  await expect(sys.client.workflow.getHandle(taskWorkflowId(taskId)).describe()).rejects.toBeInstanceOf(
    WorkflowNotFoundError,
  );
}

test('admission refuses bad submissions with a clear error and starts nothing', async () => {
  const root = await sys.submit({ type: 'compute', payload: { value: 3 }, taskId: 'adm-root' });

  const dup = await refusal({ type: 'compute', payload: { value: 3 }, taskId: 'adm-root' });
  expect([dup.field, dup.code, dup.message]).toEqual([
    'task_id',
    'duplicate_task',
    'task id "adm-root" already exists; task ids are unique',
  ]);

  const unknown = await refusal({ type: 'compute', payload: { value: 3 }, dependsOn: 'no-such-task', taskId: 'adm-1' });
  expect([unknown.field, unknown.code]).toEqual(['depends_on', 'unknown_parent']);
  expect(unknown.message).toContain('"no-such-task"');
  await notStarted('adm-1');

  for (const [payload, fragment] of [
    [{ value: -1 }, 'payload.value: must be >= 0'],
    [{ value: 1.5 }, 'payload.value: must be a whole number'],
    [{ value: 1, extra: true }, "Unrecognized key(s) in object: 'extra'"],
    [{ nothing: 1 }, 'must be {"value"'],
  ] as const) {
    const bad = await refusal({ type: 'compute', payload, taskId: 'adm-2' });
    expect([bad.field, bad.code]).toEqual(['payload', 'invalid_payload']);
    expect(bad.message).toContain(fragment);
  }
  const badType = await refusal({ type: 'teleport', payload: {}, taskId: 'adm-2' });
  expect(badType.message).toBe('--type "teleport" is not a task type (known: compute, record)');
  await notStarted('adm-2');

  const failed = await sys.submit({ type: 'compute', payload: { fail: true }, taskId: 'adm-failed' });
  expect((await sys.wait(failed)).status).toBe('failed');
  const afterFailed = await refusal({ type: 'compute', payload: { value: 1 }, dependsOn: failed, taskId: 'adm-3' });
  expect([afterFailed.field, afterFailed.code]).toEqual(['depends_on', 'parent_final']);
  expect(afterFailed.message).toContain('has failed (execution_failed)');
  await notStarted('adm-3');

  const child = await sys.submit({ type: 'compute', payload: { value: 1 }, dependsOn: root, taskId: 'adm-child' });
  expect((await sys.wait(root)).status).toBe('confirmed');
  await sys.wait(child);

  // max_pending_operations = 4: four open tasks (10 s of work each, so none finishes first), the fifth is refused.
  const open = [];
  for (let i = 0; i < 4; i++) open.push(await sys.submit({ type: 'compute', payload: { value: i, work_ms: 10_000 } }));
  const full = await refusal({ type: 'compute', payload: { value: 9 }, taskId: 'adm-4' });
  expect([full.field, full.code]).toEqual(['max_pending_operations', 'too_many_pending']);
  expect(full.message).toMatch(/^4 tasks are open, the limit is speculation\.limits\.max_pending_operations = 4/);
  await notStarted('adm-4');
  await Promise.all(open.map((id) => sys.wait(id)));
});
