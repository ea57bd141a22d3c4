/**
 * What ends a speculative task from above: its parent failing (the whole speculative subtree rolls back,
 * deepest first, bonds released, only the failing task slashed), or its parent's commitment not landing
 * within confirmation_timeout_ms. The real task and control workflows on the time-skipping server, stub
 * activities.
 */
import { ApplicationFailure } from '@temporalio/common';
import { cascadeSettledSignal, joinCascadeUpdate } from '../../shared/messages';
import { taskWorkflowId } from '../../shared/task-model';
import { behave } from './stub-activities';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

test('a parent whose proof does not verify fails (slashed); its speculative subtree rolls back deepest first, bonds released', async () => {
  const agent = 'cascade';
  const { ids, speculating, fail, confirmGate } = await failingChain('cas', agent);
  const [root, c1, c2] = ids;
  expect(speculating.map((s) => s.depth)).toEqual([1, 2, 3]);

  fail();
  const finals = await rig.final([root, c1, c2]);
  expect(finals[0]).toMatchObject({
    status: 'failed',
    rollback_reason: 'proof_failed',
    error: 'proof did not verify: the pairing check failed',
    bond: { state: 'slashed', amount: 1_500_000, slashed: 150_000 },
  });
  expect(finals.slice(1).map((s) => [s.status, s.rollback_reason, s.speculation_status, s.bond?.state])).toEqual([
    ['rolled_back', 'parent_failed', 'speculative', 'released'],
    ['rolled_back', 'parent_rolled_back', 'speculative', 'released'],
  ]);
  // Deepest first: each settled only after the one below it.
  expect(rig.stubs.settledBefore(c2, c1)).toBe(true);
  expect(rig.stubs.settledBefore(c1, root)).toBe(true);
  // At once: the root's cascade released both in one batch; neither waited for the other.
  expect(rig.stubs.called('cascadeRollback', root)).toHaveLength(1);
  expect(rig.stubs.called('releaseBonds').map((c) => c.input)).toContainEqual({
    bonds: [
      { taskId: c2, agent },
      { taskId: c1, agent },
    ],
    reason: `cascade from task ${root}`,
  });
  expect(finals.slice(1).map((s) => s.bond?.settled_by)).toEqual([root, root]);
  expect([...rig.stubs.called('slashBond', c1), ...rig.stubs.called('slashBond', c2)]).toEqual([]);
  for (const s of finals) expect(s.timestamps.rolling_back).toBeDefined();
  // The members close in any order once the batch settled them; the root last, after its own slash.
  const rolledBack = rig.metrics.filter((m) => m.name === 'rolledBack').map((m) => m.args);
  expect(rolledBack.slice(0, 2)).toEqual(
    expect.arrayContaining([
      ['parent_rolled_back', true],
      ['parent_failed', true],
    ]),
  );
  expect(rolledBack[2]).toEqual(['proof_failed', true]);

  confirmGate();
  const [g] = await rig.final(['cas-gate']);
  expect(g).toMatchObject({ status: 'confirmed' });
  expect(rig.stubs.lockedBonds()).toEqual([]);
});

test("a speculative child whose parent's commitment does not land within confirmation_timeout_ms rolls back, bond released", async () => {
  // The shortest the schema allows: the parent's proof is held, so this one runs on the wall clock.
  await rig.setConfig({ 'speculation.confirmation_timeout_ms': 1000 });
  try {
    const [p, c] = ['slow-p', 'slow-c'];
    const parentProof = rig.stubs.hold('generateProof', p);
    // The child's own proof is still running when its timer fires (held: it cannot end just then, see rig.ts on rollbacks).
    const childProof = rig.stubs.hold('generateProof', c);
    await rig.submit(p, { value: 1 });
    await rig.submit(c, { value: 2, dependsOn: p });
    await childProof.reached;
    const [child] = await rig.final([c]);
    expect(child).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'confirmation_timeout',
      speculation_status: 'speculative',
      bond: { state: 'released' },
    });
    expect(
      Date.parse(child!.timestamps.rolling_back!) - Date.parse(child!.timestamps.speculated!),
    ).toBeGreaterThanOrEqual(1000);
    expect(rig.stubs.called('slashBond', c)).toEqual([]);
    expect(rig.stubs.called('sendCommitments', c)).toEqual([]);

    parentProof.release();
    const [parent] = await rig.final([p]);
    expect(parent).toMatchObject({ status: 'confirmed' });
  } finally {
    await rig.setConfig({ 'speculation.confirmation_timeout_ms': 60_000 });
  }
});

/**
 * gate → root → c1 → c2, the three below the gate speculating (bonds locked), both below the root proven and
 * idle, waiting for their ancestors, before the rollback reaches them (see rig.ts on rollbacks). `fail()`
 * lets the root's proof go, and it fails (its own fault); `confirmGate()` lets the gate's go (the test
 * server's clock can move only once no activity is held).
 */
async function failingChain(prefix: string, agent: string) {
  const [gate, root, c1, c2] = [`${prefix}-gate`, `${prefix}-root`, `${prefix}-c1`, `${prefix}-c2`];
  const gateProof = rig.stubs.hold('generateProof', gate);
  const rootProof = rig.stubs.hold('generateProof', root);
  rig.stubs.when('verifyProof', root, async () => ({
    valid: false,
    reason: 'the pairing check failed',
    code: 'ProofInvalid',
  }));
  await rig.submit(gate, { value: 1, agent });
  await rig.submit(root, { value: 2, dependsOn: gate, agent });
  await rig.submit(c1, { value: 3, dependsOn: root, agent });
  await rig.submit(c2, { value: 4, dependsOn: c1, agent });
  const speculating = await rig.until('the chain below the gate to speculate', [root, c1, c2], ([r, ...below]) =>
    Boolean(
      r!.bond?.state === 'locked' &&
      below.every((t) => t.bond?.state === 'locked' && t.status === 'awaiting_ancestors'),
    ),
  );
  return {
    ids: [root, c1, c2] as const,
    speculating,
    fail: () => rootProof.release(),
    confirmGate: () => gateProof.release(),
  };
}

test('a cascade that cannot run (three attempts): the rollback goes level by level, deepest first', async () => {
  const agent = 'no-cascade';
  const {
    ids: [root, c1, c2],
    fail,
    confirmGate,
  } = await failingChain('nc', agent);
  rig.stubs.when(
    'cascadeRollback',
    root,
    behave.fail(() => ApplicationFailure.retryable('the frontend is away', 'Unavailable')),
  );
  fail();
  const finals = await rig.final([root, c1, c2]);
  // The root told c1 as without a cascade; c1, rolling back on its own, ran its own cascade over c2.
  expect(finals.map((s) => [s.status, s.bond?.state, s.bond?.settled_by])).toEqual([
    ['failed', 'slashed', undefined],
    ['rolled_back', 'released', undefined],
    ['rolled_back', 'released', c1],
  ]);
  expect(rig.stubs.called('cascadeRollback', root)).toHaveLength(3);
  expect(rig.stubs.called('cascadeRollback', c1)).toHaveLength(1);
  confirmGate();
  expect(rig.stubs.settledBefore(c2, c1)).toBe(true);
  expect(rig.stubs.settledBefore(c1, root)).toBe(true);
}, 60_000);

test('members told to settle themselves (the cascade failed after they joined) do so after their dependents, deepest first', async () => {
  const agent = 'self-settle';
  const {
    ids: [root, c1, c2],
    fail,
    confirmGate,
  } = await failingChain('ss', agent);
  // What cascadeRollback does when its batch fails after members joined: each hears settled = false.
  rig.stubs.when('cascadeRollback', root, async () => {
    const joins: Array<[string, string]> = [
      [c1, root],
      [c2, c1],
    ];
    for (const [id, cause] of joins)
      await rig.client.workflow
        .getHandle(taskWorkflowId(id))
        .executeUpdate(joinCascadeUpdate, { args: [{ origin: root, cause, reason: 'parent_failed' }] });
    for (const [id] of joins)
      await rig.client.workflow
        .getHandle(taskWorkflowId(id))
        .signal(cascadeSettledSignal, { origin: root, settled: false, settledDependents: [] });
    return {
      members: 2,
      joined: 2,
      settledInBatch: 0,
      bondsReleased: 0,
      transactions: 0,
      selfSettling: 2,
      settledDependents: [],
      fallback: 'the chain did not answer',
    };
  });
  fail();
  const finals = await rig.final([root, c1, c2]);
  confirmGate();
  expect(finals.map((s) => [s.status, s.bond?.state, s.bond?.settled_by])).toEqual([
    ['failed', 'slashed', undefined],
    ['rolled_back', 'released', undefined],
    ['rolled_back', 'released', undefined],
  ]);
  expect(rig.stubs.called('releaseBond', c1)).toHaveLength(1);
  expect(rig.stubs.called('releaseBond', c2)).toHaveLength(1);
  expect(rig.stubs.settledBefore(c2, c1)).toBe(true);
  expect(rig.stubs.settledBefore(c1, root)).toBe(true);
});
