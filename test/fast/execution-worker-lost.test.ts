/**
 * An execution whose attempts are all lost to their worker (heartbeat or start-to-close timeouts: the
 * worker died) is the system's fault, not the agent's: the execution runs again, a new round of
 * attempts; after MAX_LOST_EXECUTION_ROUNDS (3) rounds lost the task gives up as execution_unavailable,
 * its bond released. A round whose attempts fail by the task type's own error is the agent's fault.
 * The real workflows on the time-skipping server, stub activities (see stub-activities.ts
 * `behave.lost` for how an attempt is lost here).
 */
import { ApplicationFailure } from '@temporalio/common';
import { behave } from './stub-activities';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

/** A parent and its speculative child whose execution attempts behave as the test said; the parent confirms. */
async function speculativeChild(prefix: string, agent: string): Promise<string> {
  const [p, c] = [`${prefix}-p`, `${prefix}-c`];
  const parentProof = rig.stubs.hold('generateProof', p);
  await rig.submit(p, { value: 1, agent });
  await rig.submit(c, { value: 2, dependsOn: p, agent });
  await rig.until(
    'the child to speculate and execute',
    [c],
    ([s]) => s!.bond?.state === 'locked' && rig.stubs.called('executeTask', c).length > 0,
  );
  parentProof.release();
  await rig.until('the parent to confirm', [p], ([s]) => s!.status === 'confirmed');
  return c;
}

const attempts = (c: string) => rig.stubs.called('executeTask', c).map((x) => x.attempt);

test('a round of execution attempts all lost to their worker runs again: the task confirms, its bond released in full', async () => {
  const agent = 'once-lost';
  rig.stubs.when('executeTask', 'lost1-c', behave.lost('HEARTBEAT'), 3);
  const c = await speculativeChild('lost1', agent);
  // The retry backoff within a round (1 s, 2 s) on the test server's clock.
  const [child] = await rig.final([c], { advance: '500 milliseconds' });
  expect(child).toMatchObject({
    status: 'confirmed',
    speculation_status: 'speculative',
    rollback_reason: null,
    error: null,
    bond: { state: 'released' },
  });
  // Round 1: three attempts lost; round 2: its first attempt ran.
  expect(attempts(c)).toEqual([1, 2, 3, 1]);
  expect(rig.stubs.called('slashBond')).toEqual([]);
  expect((await rig.control()).cooldowns[agent]).toBeUndefined();
});

test('an execution lost on every attempt gives up after 3 rounds: execution_unavailable, rolled back, bond released, not slashed', async () => {
  const agent = 'always-lost';
  rig.stubs.when('executeTask', 'lost3-c', behave.lost('START_TO_CLOSE'));
  const c = await speculativeChild('lost3', agent);
  const [child] = await rig.final([c], { advance: '500 milliseconds' });
  expect(child).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'execution_unavailable',
    speculation_status: 'speculative',
    bond: { state: 'released' },
    result: null,
  });
  expect(child!.error).toMatch(/^its task worker stopped answering on every attempt: activity START_TO_CLOSE timeout/);
  // MAX_LOST_EXECUTION_ROUNDS = 3 rounds of EXECUTION's 3 attempts, and not one more.
  expect(attempts(c)).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3]);
  expect(rig.stubs.called('generateProof', c)).toEqual([]);
  expect(rig.stubs.called('slashBond')).toEqual([]);
  expect(rig.stubs.called('releaseBond', c)).toHaveLength(1);
  const control = await rig.controlUntil('the speculation to end', (s) => !s.active.some((a) => a.taskId === c));
  expect(control.cooldowns[agent]).toBeUndefined();
});

test("a round lost to its worker, then a round failing by the task type's own error: execution_failed, slashed", async () => {
  const agent = 'lost-then-failed';
  rig.stubs.when('executeTask', 'lostfail-c', behave.lost('HEARTBEAT'), 3);
  rig.stubs.when(
    'executeTask',
    'lostfail-c',
    behave.fail(() => ApplicationFailure.retryable('task lostfail-c: the task type failed', 'ExecutionFailed')),
  );
  const c = await speculativeChild('lostfail', agent);
  const [child] = await rig.final([c], { advance: '500 milliseconds' });
  expect(child).toMatchObject({
    status: 'failed',
    rollback_reason: 'execution_failed',
    bond: { state: 'slashed' },
    error: 'task lostfail-c: the task type failed',
  });
  expect(attempts(c)).toEqual([1, 2, 3, 1, 2, 3]);
  expect(rig.stubs.called('slashBond', c)).toHaveLength(1);
});
