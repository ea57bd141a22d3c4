/**
 * The control workflow briefly missing (terminated, not yet restored): tasks running meanwhile do not
 * fail; what they owe it (a slot to free, a speculation ended, a slash's cooldown) waits, in order, and
 * reaches it once it is restored from its own last state. The real task and control workflows on the
 * time-skipping server (the redelivery's backoff on its clock), stub activities.
 */
import { temporal } from '@temporalio/proto';
import { controlHandle, ensureControl } from '../../temporal/control';
import { taskWorkflowId } from '../../shared/task-model';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

async function terminateControl(): Promise<void> {
  await controlHandle(rig.client).terminate('test: the control workflow goes away');
}

const { EventType } = temporal.api.enums.v1;

/** The signals the running control workflow received, as `signal taskId` (the task each names). */
async function controlSignals(): Promise<string[]> {
  const { events } = await controlHandle(rig.client).fetchHistory();
  return (events ?? []).flatMap((e) => {
    const a = e.workflowExecutionSignaledEventAttributes;
    const data = a?.input?.payloads?.[0]?.data;
    if (e.eventType !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED || !a || !data) return [];
    return [`${a.signalName} ${(JSON.parse(Buffer.from(data).toString('utf8')) as { taskId: string }).taskId}`];
  });
}

/** How many of a task's signals to the control workflow failed (it was missing). */
async function failedSignalsToControl(taskId: string): Promise<number> {
  const { events } = await rig.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  return (events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)
    .length;
}

/** Restores the control workflow from its last state, as `agenc speculation restore-control` (or a worker's start) does. */
async function restoreControl(): Promise<void> {
  expect(await ensureControl(rig.client, rig.rawConfig)).toMatchObject({ outcome: 'restored', closedAs: 'TERMINATED' });
}

test('a speculative chain confirms while the control workflow is terminated; restored, it hears that both slots are free', async () => {
  const [p, c] = ['away-p', 'away-c'];
  const parentProof = rig.stubs.hold('generateProof', p);
  await rig.submit(p, { value: 1 });
  await rig.submit(c, { value: 2, dependsOn: p });
  await rig.until('the child to speculate', [c], ([s]) => s!.bond?.state === 'locked');
  const before = await rig.controlUntil('the child active', (s) => s.active_tasks === 1 && s.open_tasks === 2);
  await terminateControl();

  parentProof.release();
  const [parent, child] = await rig.final([p, c]);
  expect(parent).toMatchObject({ status: 'confirmed' });
  expect(child).toMatchObject({ status: 'confirmed', speculation_status: 'speculative', bond: { state: 'released' } });
  // Final, not failed: each waits to tell the control workflow what it owes.
  await rig.until('both to wait for the control workflow', [p, c], (s) =>
    s.every((t) => Boolean(t.waiting_for?.startsWith('speculation-control to be restored'))),
  );
  expect((await rig.state(c)).waiting_for).toBe(
    'speculation-control to be restored, to tell it: speculationEnded, taskClosed',
  );
  for (const id of [p, c]) expect(await rig.workflowStatus(id)).toBe('RUNNING');

  for (const id of [p, c]) expect(await failedSignalsToControl(id)).toBeGreaterThan(0);

  // Restored from its last state: the same configuration, and the slots the tasks still hold (until they tell it).
  await restoreControl();
  expect((await rig.control()).config_version).toBe(before.config_version);
  // The tasks' next tries (their backoff doubles up to a minute) on the test server's clock.
  await rig.controlUntil('the tasks to deliver what they owed', (s) => s.active_tasks === 0 && s.open_tasks === 0, {
    advance: '5 seconds',
  });
  expect((await controlSignals()).sort()).toEqual([`speculationEnded ${c}`, `taskClosed ${c}`, `taskClosed ${p}`]);
  for (const id of [p, c]) {
    await rig.advanceUntil(
      `${id} to complete`,
      async () => (await rig.workflowStatus(id)) === 'COMPLETED',
      '5 seconds',
      30,
    );
  }
});

test("a slash while the control workflow is terminated: once restored, it hears the agent's slash and puts it in cooldown", async () => {
  const agent = 'unlucky';
  const [p, c] = ['slash-away-p', 'slash-away-c'];
  const parentProof = rig.stubs.hold('generateProof', p);
  const childProof = rig.stubs.hold('generateProof', c);
  rig.stubs.when('verifyProof', c, async () => ({
    valid: false,
    reason: 'the pairing check failed',
    code: 'ProofInvalid',
  }));
  await rig.submit(p, { value: 1, agent });
  await rig.submit(c, { value: 2, dependsOn: p, agent });
  await childProof.reached;
  await terminateControl();

  childProof.release();
  parentProof.release();
  const [, child] = await rig.final([p, c]);
  expect(child).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed', bond: { state: 'slashed' } });
  await rig.until('the child to wait for the control workflow', [c], ([s]) =>
    Boolean(s!.waiting_for?.startsWith('speculation-control to be restored')),
  );
  expect((await rig.state(c)).waiting_for).toBe(
    'speculation-control to be restored, to tell it: agentSlashed, speculationEnded, taskClosed',
  );

  await restoreControl();
  const after = await rig.controlUntil(
    'the slash delivered',
    (s) => s.cooldowns[agent] !== undefined && s.active_tasks === 0 && s.open_tasks === 0,
    {
      advance: '5 seconds',
    },
  );
  expect(after.active).toEqual([]);
  // The new run heard them from the child in the order it sent them.
  expect((await controlSignals()).filter((x) => x.endsWith(` ${c}`))).toEqual([
    `agentSlashed ${c}`,
    `speculationEnded ${c}`,
    `taskClosed ${c}`,
  ]);
});
