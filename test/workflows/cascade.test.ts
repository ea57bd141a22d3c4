/**
 * Cascade rollback, against the real dev server, real proofs and the real SVM. Proofs are not
 * optimistic here (a speculative task proves only once its parent is confirmed) and the embedded chain
 * takes 6 s to finalize a commit, so a whole chain is speculating before anything above it can fail.
 */
import { createStakeOperator } from '../../activities/chain';
import { forceRollbackSignal } from '../../shared/messages';
import { taskWorkflowId } from '../../shared/task-model';
import { failingRootWithTree, untilSpeculating } from '../helpers/failing-root';
import { scheduledActivities, statusesRecorded } from '../helpers/history';
import { settlementsOf } from '../../activities/chain/settlements';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'cascade',
    config: speculativeConfig({ speculation: { features: { enable_optimistic_proofs: false } } }),
    worker: { embeddedFinalityMs: 6000 },
  });
  await sys.fundAgent('chain-agent');
  await sys.fundAgent('force-agent');
});
afterAll(() => sys?.close());

test('a chain of 5 whose root fails: the four below roll back deepest first, bonds released, nothing slashed but the root', async () => {
  const agent = 'chain-agent';
  const before = (await createStakeOperator(sys.worker.stakeDeps!).stakeStatus({ agent })).agents[0]!;
  // The root claims a wrong output: it executes (so its dependents speculate on it), then its proof fails.
  const { above: gate, root, below } = await failingRootWithTree(sys, { agent, below: 4 });
  const chain = [root, ...below];
  await untilSpeculating(sys.client, chain, { timeoutMs: 20_000 });

  const finals = await Promise.all(chain.map((id) => sys.wait(id)));
  expect(finals[0]).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed', bond: { state: 'slashed' } });
  expect(finals.slice(1).map((s) => [s.status, s.rollback_reason, s.bond?.state])).toEqual([
    ['rolled_back', 'parent_failed', 'released'],
    ['rolled_back', 'parent_rolled_back', 'released'],
    ['rolled_back', 'parent_rolled_back', 'released'],
    ['rolled_back', 'parent_rolled_back', 'released'],
  ]);
  expect(finals.slice(1).map((s) => s.depth)).toEqual([2, 3, 4, 5]);
  // Nothing below the root went forward once it had heard: no commitment, no step begun after its rollback began.
  for (const s of finals.slice(1)) {
    expect(s.commit_signature).toBeNull();
    const heard = Date.parse(s.timestamps.rolling_back!);
    for (const step of ['executing', 'proving', 'committing', 'confirmed'] as const)
      if (s.timestamps[step]) expect(Date.parse(s.timestamps[step]!)).toBeLessThanOrEqual(heard);
  }

  // Deepest first, as the chain recorded it: each bond settled once, after every bond below it, the root's last.
  const settled = await settlementsOf(sys.worker.stakeDeps!, agent);
  expect(settled.map((x) => [x.task, x.action])).toEqual([
    ...[...below].reverse().map((id) => [id, 'release']),
    [root, 'slash'],
  ]);
  // At once: the root ran one cascade, whose batch released the four bonds in fewer transactions than bonds;
  // the four did not settle their own, and no history grew with the chain.
  expect((await scheduledActivities(sys.client, root)).filter((a) => a === 'cascadeRollback')).toHaveLength(1);
  expect(new Set(settled.slice(0, 4).map((x) => x.signature)).size).toBeLessThan(4);
  expect(finals.slice(1).map((s) => s.bond?.settled_by)).toEqual(below.map(() => root));
  for (const id of chain.slice(1)) {
    const activities = await scheduledActivities(sys.client, id);
    expect(activities).not.toContain('slashBond');
    expect(activities).not.toContain('releaseBond');
  }
  // While undoing, each task said so (rolling_back) until its subtree and its compensations were done.
  for (const id of chain)
    expect((await statusesRecorded(sys.client, id)).slice(-2)).toEqual([
      'rolling_back',
      id === root ? 'failed' : 'rolled_back',
    ]);

  // Only the root's bond was slashed, by exactly slash_percentage (0.1) of its depth-1 bond.
  const after = (await createStakeOperator(sys.worker.stakeDeps!).stakeStatus({ agent })).agents[0]!;
  expect(after.slashed - before.slashed).toBe(150_000);
  expect(after.locked_in_bonds).toBe(0);
  expect((await sys.wait(gate!)).status).toBe('confirmed');
});

test('forceRollback on a task rolls back its subtree and leaves its ancestors alone', async () => {
  const agent = 'force-agent';
  const a = await sys.submit({ type: 'compute', payload: { value: 10 }, agent });
  const b = await sys.submit({ type: 'compute', payload: { value: 11 }, dependsOn: a, agent });
  const c = await sys.submit({ type: 'compute', payload: { value: 12 }, dependsOn: b, agent });
  await untilSpeculating(sys.client, [b, c], { timeoutMs: 20_000 });
  await sys.client.workflow.getHandle(taskWorkflowId(b)).signal(forceRollbackSignal, { reason: 'test' });

  expect(await sys.wait(b)).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'forced',
    bond: { state: 'released' },
  });
  expect(await sys.wait(c)).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'parent_rolled_back',
    bond: { state: 'released' },
  });
  expect((await sys.wait(a)).status).toBe('confirmed');
  const integrity = await createStakeOperator(sys.worker.stakeDeps!).checkIntegrity({ liveBonds: [] });
  expect(integrity.problems).toEqual([]);
});
