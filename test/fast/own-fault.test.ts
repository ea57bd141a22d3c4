/**
 * A speculative task that fails on its own fault (its proof does not hold, its execution fails) is
 * slashed, and why it ends is decided when its forward run ends: a rollback request arriving while it
 * waits for its subtree or settles its bond (an operator's, its parent's rollback) changes neither the
 * reason, nor the status, nor the slash. The agent then cools down: its next dependent may not speculate.
 * The real task and control workflows on the time-skipping server, stub activities.
 */
import { ApplicationFailure } from '@temporalio/common';
import { controlSnapshotQuery, forceRollbackAllSignal } from '../../shared/messages';
import { controlHandle } from '../../temporal/control';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

test("proof_failed: slashed; an operator's force-rollback and its parent's rollback while it waits for its subtree change nothing", async () => {
  const agent = 'claimant';
  const [p, c, g] = ['pf-parent', 'pf-claimant', 'pf-grandchild'];
  const parentProof = rig.stubs.hold('generateProof', p);
  const claimantProof = rig.stubs.hold('generateProof', c);
  const grandchildRelease = rig.stubs.hold('releaseBonds', g);
  await rig.submit(p, { value: 1, agent });
  await rig.submit(c, { value: 2, dependsOn: p, agent });
  await rig.submit(g, { value: 3, dependsOn: c, agent });
  // The grandchild proven and idle, waiting for its ancestors, before the rollback reaches it (see rig.ts on rollbacks).
  const speculating = await rig.until('the claimant and the grandchild to speculate', [c, g], ([tc, tg]) =>
    Boolean(tc!.bond?.state === 'locked' && tg!.bond?.state === 'locked' && tg!.status === 'awaiting_ancestors'),
  );
  expect(speculating.map((s) => s.depth)).toEqual([1, 2]);

  // The agent's inputs do not satisfy the circuit: its own fault.
  claimantProof.fail(
    ApplicationFailure.create({
      message: 'the witness does not satisfy the circuit (output != value^2 + parent output)',
      type: 'ProofWitnessInvalid',
      nonRetryable: true,
    }),
  );
  await grandchildRelease.reached;
  const [failing] = await rig.until('the claimant to wait for its subtree', [c], ([s]) => s!.status === 'rolling_back');
  expect(failing).toMatchObject({ rollback_reason: 'proof_failed', bond: { state: 'locked' } });
  expect(failing!.waiting_for).toBe(`dependent(s) ${g} to roll back, then this task's compensations`);

  // While it waits: an operator forces its rollback, and its parent rolls back (telling it parent_rolled_back).
  await rig.forceRollback(c);
  await rig.forceRollback(p);
  await rig.signalHandled(c, 'forceRollback');
  await rig.until('the parent to roll back and tell the claimant', [p], ([s]) => s!.status === 'rolling_back');
  await rig.signalHandled(c, 'parentRolledBack');
  expect(await rig.state(c)).toMatchObject({ status: 'rolling_back', rollback_reason: 'proof_failed' });

  grandchildRelease.release();
  const [parent, claimant, grandchild] = await rig.final([p, c, g]);
  expect(claimant).toMatchObject({
    status: 'failed',
    rollback_reason: 'proof_failed',
    speculation_status: 'speculative',
    proof: { state: 'failed' },
    bond: { state: 'slashed', amount: 1_500_000, slashed: 150_000, returned: 1_350_000 },
  });
  expect(claimant!.error).toContain('the witness does not satisfy the circuit');
  expect(grandchild).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'parent_failed',
    bond: { state: 'released' },
  });
  expect(parent).toMatchObject({ status: 'rolled_back', rollback_reason: 'forced' });

  expect(rig.stubs.called('slashBond', c).map((x) => x.input)).toEqual([
    { taskId: c, agent, slashPercentage: 0.1, reason: 'proof_failed' },
  ]);
  expect(rig.stubs.called('releaseBond', c)).toEqual([]);
  // Deepest first: the grandchild settled before the claimant, the claimant before its parent ended.
  expect(rig.stubs.settledBefore(g, c)).toBe(true);
  expect(rig.stubs.lockedBonds()).toEqual([]);
  await rig.controlUntil(
    'the cooldown, the speculations ended',
    (s) => s.cooldowns[agent] !== undefined && !s.active.some((a) => [c, g].includes(a.taskId)),
  );
  parentProof.release();
});

test('execution_failed (after its two retries): slashed; force-rollbacks while it settles its bond change neither status nor reason; the agent cools down', async () => {
  const agent = 'executor';
  const [p, c] = ['ef-parent', 'ef-child'];
  const parentProof = rig.stubs.hold('generateProof', p);
  // Its first attempt waits until the parent is confirmed, so the retries' backoff is all the test server has to wait for.
  const firstAttempt = rig.stubs.hold('executeTask', c);
  const ownError = (attempt: number) =>
    ApplicationFailure.retryable(`task ${c}: the task type failed (attempt ${attempt})`, 'ExecutionFailed');
  rig.stubs.when('executeTask', c, async (call) => {
    throw ownError(call.attempt);
  });
  const slash = rig.stubs.hold('slashBond', c);
  await rig.submit(p, { value: 1, agent });
  await rig.submit(c, { value: 2, dependsOn: p, agent });
  await firstAttempt.reached;
  expect(await rig.state(c)).toMatchObject({ status: 'executing', bond: { state: 'locked' } });
  parentProof.release();
  await rig.until('the parent to confirm', [p], ([s]) => s!.status === 'confirmed');
  firstAttempt.fail(ownError(1));

  // The retries (after 1 s, then 2 s) on the test server's clock.
  await rig.advanceUntil(
    'the child to settle its bond',
    () => rig.stubs.called('slashBond', c).length > 0,
    '500 milliseconds',
  );
  expect(rig.stubs.called('executeTask', c).map((x) => x.attempt)).toEqual([1, 2, 3]);
  expect(await rig.state(c)).toMatchObject({ status: 'rolling_back', rollback_reason: 'execution_failed' });

  // An operator forces it back, the task itself and every active speculation, while the slash is on its way.
  await rig.forceRollback(c);
  await controlHandle(rig.client).signal(forceRollbackAllSignal);
  await rig.signalHandled(c, 'forceRollback');
  slash.release();

  const [parent, child] = await rig.final([p, c]);
  expect(parent).toMatchObject({ status: 'confirmed' });
  expect(child).toMatchObject({
    status: 'failed',
    rollback_reason: 'execution_failed',
    speculation_status: 'speculative',
    bond: { state: 'slashed', slashed: 150_000 },
    result: null,
  });
  expect(child!.error).toBe(`task ${c}: the task type failed (attempt 3)`);
  expect(rig.stubs.called('slashBond', c)).toHaveLength(1);
  expect(rig.stubs.called('releaseBond', c)).toEqual([]);
  expect(rig.stubs.called('generateProof', c)).toEqual([]);
  await rig.controlUntil(
    'the cooldown, the speculation ended',
    (s) => s.cooldowns[agent] !== undefined && !s.active.some((a) => a.taskId === c),
  );
  // The operator's force-rollback of every active speculation is no longer pending for it.
  expect((await controlHandle(rig.client).query(controlSnapshotQuery)).pendingRollbacks).not.toContain(c);

  // Cooling down: its next dependent may not speculate, and runs once its parent is confirmed.
  const [p2, d] = ['ef-parent-2', 'ef-dependent'];
  const parent2Proof = rig.stubs.hold('generateProof', p2);
  await rig.submit(p2, { value: 3, agent });
  await rig.submit(d, { value: 4, dependsOn: p2, agent });
  await rig.until('the dependent refused', [d], ([s]) => s!.speculation_status === 'cooldown');
  expect(rig.stubs.called('lockBond', d)).toEqual([]);
  parent2Proof.release();
  const [, dependent] = await rig.final([p2, d]);
  expect(dependent).toMatchObject({ status: 'confirmed', speculation_status: 'cooldown', bond: null, depth: 0 });
});
