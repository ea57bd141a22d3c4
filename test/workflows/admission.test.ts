/**
 * Admission counted where the count is exact (the control workflow), and the periodic clean-up
 * (`limits.gc_interval_ms`) of state left by tasks that ended without saying so. Against the real dev
 * server, proofs and SVM.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { admitTask, controlStatus } from '../../temporal/control';
import { AdmissionError } from '../../client/tasks';
import { taskWorkflowId } from '../../shared/task-model';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';
import { slotsGivenBack, submitBurst } from '../helpers/burst';

const LIMIT = 4;
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'admission',
    config: speculativeConfig({ speculation: { limits: { max_pending_operations: LIMIT, gc_interval_ms: 1000 } } }),
  });
  await sys.fundAgent('default');
});
afterAll(() => sys?.close());

async function isStarted(taskId: string): Promise<boolean> {
  try {
    await sys.client.workflow.getHandle(taskWorkflowId(taskId)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

test('concurrent submitters never get more than max_pending_operations tasks open; every refusal is clear and starts nothing', async () => {
  // Twelve submitters at once, each task standing for 8 s of work.
  const { ids, admitted, others } = await submitBurst(sys, 12, 8000);
  const refused = others.filter((o): o is AdmissionError => o instanceof AdmissionError);
  expect(admitted).toHaveLength(LIMIT);
  expect(refused).toHaveLength(ids.length - LIMIT);
  for (const r of refused) {
    expect([r.field, r.code]).toEqual(['max_pending_operations', 'too_many_pending']);
    expect(r.message).toMatch(
      /^4 tasks are open, the limit is speculation\.limits\.max_pending_operations = 4; wait for tasks to finish or raise the limit$/,
    );
  }
  const started = await Promise.all(ids.map(isStarted));
  expect(ids.filter((_, i) => started[i]).sort()).toEqual([...admitted].sort());
  expect((await controlStatus(sys.client)).open_tasks).toBe(LIMIT);

  // As the admitted tasks finish, their slots come back.
  await Promise.all(admitted.map((id) => sys.wait(id)));
  await slotsGivenBack(sys.client);
  const again = await sys.submit({ type: 'compute', payload: { value: 1 } });
  expect((await sys.wait(again)).status).toBe('confirmed');
});

test('a task terminated by an operator gives back its admission and its speculation slot at the next clean-up', async () => {
  const parent = await sys.submit({ type: 'compute', payload: { value: 1 } });
  // The child speculates on the parent's result and then works for 20 s: long enough to be terminated mid-speculation.
  const child = await sys.submit({ type: 'compute', payload: { value: 2, work_ms: 20_000 }, dependsOn: parent });
  await pollUntil(
    'the child to speculate',
    () => controlStatus(sys.client),
    (s) => s.active_tasks === 1,
    20_000,
    200,
  );

  await sys.client.workflow.getHandle(taskWorkflowId(child)).terminate('operator test: terminated mid-speculation');
  expect((await sys.wait(parent)).status).toBe('confirmed');
  const after = await pollUntil(
    "the clean-up to free the terminated task's slots",
    () => controlStatus(sys.client),
    (s) => s.active_tasks === 0 && s.open_tasks === 0,
    15_000,
    250,
  );
  expect(after.active).toEqual([]);
});

test('a submitter that dies between its admission and starting the workflow leaks no slot: the clean-up frees it', async () => {
  // What a crashed `agenc task submit` leaves behind: a slot taken, no workflow.
  expect(await admitTask(sys.client, 'ghost-task')).toEqual({ admitted: true, reserved: true });
  expect((await controlStatus(sys.client)).open_tasks).toBe(1);
  // Freed once older than two clean-up intervals (a younger admission may still be starting its workflow).
  await pollUntil(
    'the clean-up to free the orphaned admission',
    () => controlStatus(sys.client),
    (s) => s.open_tasks === 0,
    15_000,
    250,
  );
});
