/**
 * The happy path of a speculative dependent, and its fallback when no bond can be taken (stake_limit):
 * the real task and control workflows on the time-skipping server, stub activities.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../../shared/activity-contract';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
  // Each task commits on its own here (batching: commit-batching.test.ts).
  await rig.setConfig({ 'speculation.proof.batch_size': 1 });
});
afterAll(() => rig?.close());

const seqOf = (activity: Parameters<FastRig['stubs']['called']>[0], taskId: string) => {
  const calls = rig.stubs.called(activity, taskId);
  expect(calls.length).toBeGreaterThan(0);
  return calls[0]!.seq;
};

test('a speculative child executes and proves on its unconfirmed parent, waits for it, commits after it, confirms, bond released', async () => {
  const [p, c] = ['happy-p', 'happy-c'];
  const parentProof = rig.stubs.hold('generateProof', p);
  await rig.submit(p, { value: 3 });
  await rig.submit(c, { value: 4, dependsOn: p });

  // Proven on the parent's executed result and waiting for the parent's commitment.
  const [waiting] = await rig.until(
    'the child proven and waiting for its parent',
    [c],
    ([s]) => s!.status === 'awaiting_ancestors',
  );
  expect(waiting).toMatchObject({
    speculation_status: 'speculative',
    depth: 1,
    bond: { state: 'locked', amount: 1_500_000 },
    proof: { state: 'verified' },
  });
  expect(waiting!.waiting_for).toContain(`parent task ${p}'s commitment`);
  expect(rig.stubs.called('sendCommitments', c)).toEqual([]);
  expect((await rig.control()).active).toEqual([{ taskId: c, parentTaskId: p, agent: 'default', depth: 1 }]);

  parentProof.release();
  const [parent, child] = await rig.final([p, c]);
  expect(parent).toMatchObject({ status: 'confirmed', speculation_status: 'non_speculative', bond: null });
  expect(child).toMatchObject({
    status: 'confirmed',
    speculation_status: 'speculative',
    depth: 1,
    rollback_reason: null,
    error: null,
    bond: { state: 'released', amount: 1_500_000 },
    parent_commitment: parent!.result_commitment,
    committed_by: c,
    commit_signature: `commit-${c}`,
  });
  expect(BigInt(child!.result!.output)).toBe(4n * 4n + BigInt(parent!.result!.output));
  const t = child!.timestamps;
  const order = [t.speculated, t.executing, t.executed, t.proving, t.awaiting_ancestors, t.committing, t.confirmed].map(
    (iso) => Date.parse(iso!),
  );
  expect(order).toEqual([...order].sort((a, b) => a - b));

  // Proved before the parent committed (optimistic proofs), committed only after the parent's commitment landed.
  expect(seqOf('generateProof', c)).toBeLessThan(seqOf('sendCommitments', p));
  expect(seqOf('sendCommitments', p)).toBeLessThan(seqOf('sendCommitments', c));
  expect(rig.stubs.landed).toEqual([p, c]);
  const locks = rig.stubs.called('lockBond', c);
  expect(locks).toHaveLength(1);
  expect(locks[0]!.input).toMatchObject({
    taskId: c,
    agent: 'default',
    depth: 1,
    stake: { min_stake: 1_000_000, max_stake: 1_000_000_000, stake_per_depth: 500_000 },
  });
  expect(rig.stubs.called('releaseBond', c)).toHaveLength(1);
  expect(rig.stubs.called('slashBond')).toEqual([]);
  expect(rig.stubs.lockedBonds()).toEqual([]);

  // Both slots are given back to the control workflow.
  await rig.controlUntil('both slots given back', (s) => s.active_tasks === 0 && s.open_tasks === 0);
  expect(rig.metrics.filter((m) => m.name === 'confirmed').map((m) => m.args)).toEqual([
    ['non_speculative'],
    ['speculative'],
  ]);
});

test.each([
  [
    'StakeInsufficientFunds',
    () =>
      ApplicationFailure.nonRetryable(
        'stake account holds 0 lamports, the bond needs 1500000',
        FAILURE_TYPES.stakeInsufficientFunds,
      ),
  ],
  [
    'BondUnusable',
    () => ApplicationFailure.nonRetryable('the bond address was settled before', FAILURE_TYPES.bondUnusable),
  ],
])(
  'a bond that cannot be locked (%s) runs the child without speculation: stake_limit, it waits for the confirmed parent, no bond',
  async (kind, failure) => {
    const [p, c] = [`stake-${kind}-p`, `stake-${kind}-c`];
    const parentProof = rig.stubs.hold('generateProof', p);
    rig.stubs.when('lockBond', c, async () => {
      throw failure();
    });
    await rig.submit(p, { value: 1 });
    await rig.submit(c, { value: 2, dependsOn: p });

    const [refused] = await rig.until('the child to wait for its parent without speculating', [c], ([s]) =>
      Boolean(s!.waiting_for?.includes('(stake_limit)')),
    );
    expect(refused).toMatchObject({
      status: 'waiting_parent',
      speculation_status: 'stake_limit',
      depth: 0,
      bond: null,
      error: failure().message,
    });
    expect(refused!.waiting_for).toBe(`parent task ${p} to be confirmed (stake_limit)`);
    expect(rig.stubs.called('executeTask', c)).toEqual([]);
    // Its admission is undone at once: it no longer counts as active.
    await rig.controlUntil('the speculation slot freed', (s) => s.active_tasks === 0);

    parentProof.release();
    const [, child] = await rig.final([p, c]);
    expect(child).toMatchObject({
      status: 'confirmed',
      speculation_status: 'stake_limit',
      depth: 0,
      bond: null,
      rollback_reason: null,
    });
    // Non-speculative: it executed only once the parent was confirmed (its commitment final).
    expect(seqOf('awaitFinality', p)).toBeLessThan(seqOf('executeTask', c));
    expect(rig.stubs.called('lockBond', c)).toHaveLength(1);
    expect([...rig.stubs.called('releaseBond', c), ...rig.stubs.called('slashBond', c)]).toEqual([]);
  },
);
