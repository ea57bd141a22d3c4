/**
 * Why a task ends is decided when its forward run ends. Against the real dev server, proofs and SVM: a
 * speculative task that fails on its own fault waits, rolling back, for its subtree to settle; a rollback
 * request arriving then (an operator's force-rollback here; its confirmation timer or its parent failing
 * would do the same) must not turn its slash into a release. Status, reason, bond outcome and the agent's
 * cooldown agree.
 */
import { getTaskState } from '../../client/tasks';
import { controlStatus } from '../../temporal/control';
import { forceRollbackSignal } from '../../shared/messages';
import { taskWorkflowId } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { failingRootWithTree, treeIds, untilSpeculating } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'claimant';
let sys: TestSystem;

const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'end-reason',
    config: SPECULATIVE_CONFIG,
    worker: { activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent(agent);
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

test("an own fault's slash stays a slash when a rollback request arrives while the task waits for its subtree", async () => {
  // The claimant is the failing root: a wrong claimed output, so its proof cannot verify, the agent's own fault.
  const shape = { agent, below: 1, ids: `er-${Date.now()}` };
  const ids = treeIds(shape);
  const [root, claimant, grandchild] = [ids.above!, ids.root, ids.below[0]!];
  // The root stays unconfirmed, so the claimant speculates on it (and bonds); the claimant's proof waits
  // until the grandchild has speculated on the claimant (and bonded); the claimant's cascade, which settles
  // the grandchild before the claimant compensates, waits for the test.
  const releaseRoot = gate.hold('generateProof', root);
  const releaseClaim = gate.hold('generateProof', claimant);
  const releaseCascade = gate.hold('cascadeRollback', claimant);

  await failingRootWithTree(sys, shape);
  await untilSpeculating(sys.client, [claimant, grandchild]);

  releaseClaim();
  await pollUntil(
    'the claimant failed on its proof and waits for its subtree',
    () => getTaskState(sys.client, claimant),
    (s) => s.status === 'rolling_back' && s.rollback_reason === 'proof_failed',
  );

  // The operator's force-rollback reaches the claimant while it waits.
  await sys.client.workflow.getHandle(taskWorkflowId(claimant)).signal(forceRollbackSignal, { reason: 'operator' });
  await new Promise((r) => setTimeout(r, 1000));
  releaseCascade();

  const c = await sys.wait(claimant);
  expect(c).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed', bond: { state: 'slashed' } });
  expect(c.bond!.slashed).toBeGreaterThan(0);
  expect((await controlStatus(sys.client)).cooldowns[agent]).toBeDefined();
  expect(await sys.wait(grandchild)).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'parent_failed',
    bond: { state: 'released' },
  });

  releaseRoot();
  expect(await sys.wait(root)).toMatchObject({ status: 'confirmed' });
});
