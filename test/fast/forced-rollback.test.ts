/**
 * An operator's force-rollback: before a task commits it rolls the task and its subtree back (deepest
 * first, bonds released) and leaves its ancestors alone; once the task is committing (its own batch,
 * or its parent's batch carrying it) it is past its point of no return and the request is too late.
 * The real task and control workflows on the time-skipping server, stub activities.
 */
import { controlSnapshotQuery, forceRollbackAllSignal } from '../../shared/messages';
import { controlHandle } from '../../temporal/control';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

test('force-rollback of a task waiting for its ancestors rolls back it and its subtree, deepest first, and leaves its parent alone', async () => {
  const [a, b, c] = ['fr-a', 'fr-b', 'fr-c'];
  const rootProof = rig.stubs.hold('generateProof', a);
  await rig.submit(a, { value: 1 });
  await rig.submit(b, { value: 2, dependsOn: a });
  await rig.submit(c, { value: 3, dependsOn: b });
  await rig.until('b and c proven and waiting', [b, c], (s) =>
    s.every((t) => t.status === 'awaiting_ancestors' && t.bond?.state === 'locked'),
  );

  await rig.forceRollback(b);
  const [tb, tc] = await rig.final([b, c]);
  expect(tb).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'forced',
    speculation_status: 'speculative',
    bond: { state: 'released' },
  });
  expect(tc).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'parent_rolled_back',
    speculation_status: 'speculative',
    bond: { state: 'released' },
  });
  expect(rig.stubs.settledBefore(c, b)).toBe(true);
  expect([...rig.stubs.called('sendCommitments', b), ...rig.stubs.called('sendCommitments', c)]).toEqual([]);

  rootProof.release();
  const [ta] = await rig.final([a]);
  expect(ta).toMatchObject({ status: 'confirmed', rollback_reason: null });
  expect(rig.stubs.called('slashBond')).toEqual([]);
});

test('a task rolled back while it proves does not show its proof as still generating', async () => {
  const [p, c] = ['gen-p', 'gen-c'];
  const parentProof = rig.stubs.hold('generateProof', p);
  const childProof = rig.stubs.hold('generateProof', c);
  await rig.submit(p, { value: 1 });
  await rig.submit(c, { value: 2, dependsOn: p });
  await childProof.reached;
  expect(await rig.state(c)).toMatchObject({ status: 'proving', proof: { state: 'generating' } });

  await rig.forceRollback(c);
  const [child] = await rig.final([c]);
  expect(child).toMatchObject({ status: 'rolled_back', rollback_reason: 'forced', proof: { state: 'none' } });
  expect(child!.proof.error).toMatch(/rolled back while proving/);
  parentProof.release();
  await rig.final([p]);
});

test('force-rollbacks (of the task, and of every active speculation) while a task sends its own commitment are too late: it confirms', async () => {
  await rig.setConfig({ 'speculation.proof.batch_size': 1 });
  try {
    const [p, c] = ['mid-p', 'mid-c'];
    const parentProof = rig.stubs.hold('generateProof', p);
    const childCommit = rig.stubs.hold('sendCommitments', c);
    await rig.submit(p, { value: 1 });
    await rig.submit(c, { value: 2, dependsOn: p });
    await rig.until(
      'the child proven and waiting',
      [c],
      ([s]) => s!.status === 'awaiting_ancestors' && s!.proof.state === 'verified',
    );
    parentProof.release();
    await childCommit.reached;
    expect(await rig.state(c)).toMatchObject({
      status: 'committing',
      waiting_for: 'the commitment transaction on Solana',
    });

    await controlHandle(rig.client).signal(forceRollbackAllSignal);
    await rig.forceRollback(c);
    await rig.signalHandled(c, 'forceRollback');
    expect(await rig.state(c)).toMatchObject({ status: 'committing', rollback_reason: null });
    childCommit.release();

    const [, child] = await rig.final([p, c]);
    expect(child).toMatchObject({
      status: 'confirmed',
      rollback_reason: null,
      committed_by: c,
      speculation_status: 'speculative',
      bond: { state: 'released' },
    });
    expect(rig.stubs.called('releaseBond', c)).toHaveLength(1);
    expect(rig.stubs.called('slashBond')).toEqual([]);
    await rig.controlUntil('the speculation ended', (s) => !s.active.some((x) => x.taskId === c));
    expect((await controlHandle(rig.client).query(controlSnapshotQuery)).pendingRollbacks).not.toContain(c);
  } finally {
    await rig.setConfig({ 'speculation.proof.batch_size': 20 });
  }
});

test("force-rollback of a dependent handed into its committing parent's batch is too late: both confirm in the parent's batch", async () => {
  const [p, c] = ['inbatch-p', 'inbatch-c'];
  const parentProof = rig.stubs.hold('generateProof', p);
  const parentCommit = rig.stubs.hold('sendCommitments', p);
  await rig.submit(p, { value: 1 });
  await rig.submit(c, { value: 2, dependsOn: p });
  await rig.until(
    'the child proven and waiting',
    [c],
    ([s]) => s!.status === 'awaiting_ancestors' && s!.proof.state === 'verified',
  );
  parentProof.release();
  await parentCommit.reached;
  expect(await rig.state(c)).toMatchObject({
    status: 'committing',
    waiting_for: `parent task ${p}'s commitment batch`,
  });

  await rig.forceRollback(c);
  await rig.forceRollback(p);
  await rig.signalHandled(c, 'forceRollback');
  await rig.signalHandled(p, 'forceRollback');
  parentCommit.release();

  const [parent, child] = await rig.final([p, c]);
  expect(parent).toMatchObject({ status: 'confirmed', rollback_reason: null, committed_by: p });
  expect(child).toMatchObject({
    status: 'confirmed',
    rollback_reason: null,
    committed_by: p,
    commit_signature: `commit-${c}`,
    bond: { state: 'released' },
  });
  expect(rig.stubs.called('sendCommitments', c)).toEqual([]);
});
