/**
 * A speculative task's proof that does not come back is never the agent's fault unless its inputs are:
 * a proof worker that stops answering (Temporal's timeout) or fails on its own (SystemFault) rolls the
 * task back as proof_unavailable, a proof out of proving time as proof_timeout; the bond is released,
 * nothing slashed, no cooldown. The real workflows on the time-skipping server, stub activities.
 */
import { ApplicationFailure } from '@temporalio/common';
import { systemFault } from '../../activities/proof/system-fault';
import { FAILURE_TYPES } from '../../shared/activity-contract';
import { PROOF_QUEUE } from '../../shared/task-queues';
import { behave, type Behaviour } from './stub-activities';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

/**
 * A parent and its speculative child whose proof attempts all do `proof`; returns once the child's proof
 * has been asked for and the parent is confirmed (what is left to decide is the child's alone).
 */
async function childProving(prefix: string, proof: Behaviour): Promise<{ p: string; c: string }> {
  const [p, c] = [`${prefix}-p`, `${prefix}-c`];
  const parentProof = rig.stubs.hold('generateProof', p);
  rig.stubs.when('generateProof', c, proof);
  await rig.submit(p, { value: 5 });
  await rig.submit(c, { value: 6, dependsOn: p });
  // Its bond is locked, or already settled when its proof failed at once.
  await rig.until(
    'the child to speculate and ask for its proof',
    [c],
    ([s]) => s!.bond !== null && rig.stubs.called('generateProof', c).length > 0,
  );
  parentProof.release();
  await rig.until('the parent to confirm', [p], ([s]) => s!.status === 'confirmed');
  return { p, c };
}

async function expectNothingSlashed(c: string): Promise<void> {
  expect(rig.stubs.called('slashBond')).toEqual([]);
  expect(rig.stubs.called('releaseBond', c)).toHaveLength(1);
  expect(rig.stubs.lockedBonds()).toEqual([]);
  const control = await rig.controlUntil('the child to leave the active set', (s) => s.active_tasks === 0);
  expect(control.cooldowns).toEqual({});
}

test('no proof worker takes the proof within confirmation_timeout_ms (a real schedule-to-start timeout): proof_unavailable, bond released, not slashed', async () => {
  const [p, c] = ['backlog-p', 'backlog-c'];
  // The child proves only once its parent is confirmed, and a proof waits for a proof worker at most 1 s.
  await rig.setConfig({
    'speculation.confirmation_timeout_ms': 1000,
    'speculation.features.enable_optimistic_proofs': false,
  });
  try {
    // The parent's commitment has landed (so the child's confirmation timer has nothing left to time out), not yet final.
    const parentFinality = rig.stubs.hold('awaitFinality', p);
    await rig.submit(p, { value: 5 });
    await parentFinality.reached;
    // From now on no proof worker polls agenc-proofs.
    await rig.stopWorker(PROOF_QUEUE);
    await rig.submit(c, { value: 6, dependsOn: p });
    const [waiting] = await rig.until('the child to speculate and wait for its parent before proving', [c], ([s]) =>
      Boolean(s!.waiting_for?.includes('to be confirmed before proving')),
    );
    expect(waiting).toMatchObject({
      status: 'awaiting_ancestors',
      speculation_status: 'speculative',
      bond: { state: 'locked' },
    });
    parentFinality.release();

    const [parent, child] = await rig.final([p, c]);
    expect(parent).toMatchObject({ status: 'confirmed' });
    expect(child).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'proof_unavailable',
      speculation_status: 'speculative',
      proof: { state: 'failed' },
      bond: { state: 'released' },
      error:
        'no proof worker took it within 1000 ms (confirmation_timeout_ms) in the agenc-proofs backlog; add proof workers',
    });
    expect(rig.stubs.called('generateProof', c)).toEqual([]);
    await expectNothingSlashed(c);
  } finally {
    await rig.startWorker(PROOF_QUEUE);
    await rig.setConfig({
      'speculation.confirmation_timeout_ms': 60_000,
      'speculation.features.enable_optimistic_proofs': true,
    });
  }
});

test('a proof worker lost on every attempt (heartbeat timeouts): proof_unavailable, rolled back, bond released, not slashed', async () => {
  const { c } = await childProving('lost', behave.lost('HEARTBEAT'));
  // Three attempts, with the retry backoff (1 s, 2 s) between them: moved on by the test server's clock.
  const [child] = await rig.final([c], { advance: '500 milliseconds' });
  expect(child).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'proof_unavailable',
    speculation_status: 'speculative',
    proof: { state: 'failed' },
    bond: { state: 'released' },
    error: 'its proof worker stopped answering (HEARTBEAT timeout) on every attempt; check the agenc-proofs workers',
  });
  expect(rig.stubs.called('generateProof', c).map((x) => x.attempt)).toEqual([1, 2, 3]);
  expect(rig.stubs.called('verifyProof', c)).toEqual([]);
  await expectNothingSlashed(c);
});

test("a proof worker that fails on its own (SystemFault, retried) is the system's fault: proof_unavailable, bond released", async () => {
  const fault = () =>
    systemFault({
      fault: 'ProofArtifactMissing',
      component: 'proof worker',
      message: 'task.zkey is missing',
      details: { artifact: 'task.zkey' },
    });
  const { c } = await childProving('sysfault', behave.fail(fault));
  const [child] = await rig.final([c], { advance: '500 milliseconds' });
  expect(child).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'proof_unavailable',
    proof: { state: 'failed' },
    bond: { state: 'released' },
  });
  expect(child!.error).toBe(fault().message);
  expect(rig.stubs.called('generateProof', c)).toHaveLength(3);
  await expectNothingSlashed(c);
});

test("a proof out of proving time (ProofTimeout) is the machine's load: proof_timeout, rolled back, bond released", async () => {
  const { c } = await childProving(
    'ptimeout',
    behave.fail(() =>
      ApplicationFailure.nonRetryable(
        'proof of task ptimeout-c did not finish within 60000 ms (proof timeout)',
        FAILURE_TYPES.proofTimeout,
      ),
    ),
  );
  const [child] = await rig.final([c]);
  expect(child).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'proof_timeout',
    proof: { state: 'failed' },
    bond: { state: 'released' },
  });
  expect(child!.error).toMatch(/did not finish within 60000 ms/);
  expect(rig.stubs.called('generateProof', c)).toHaveLength(1);
  await expectNothingSlashed(c);
});
