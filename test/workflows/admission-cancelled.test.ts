/**
 * A speculation request is a Temporal Update to speculation-control, sent by a (local) activity. When the
 * task's parent fails while that request is in flight, the control workflow may apply it after the task has
 * rolled back: the task must not leave an active speculation, nor a locked bond, behind. Against the real dev server,
 * proofs and SVM; clean-up is set far off so it cannot hide a leak.
 */
import { controlStatus } from '../../temporal/control';
import { ActivityGate } from '../helpers/activity-gate';
import { failingRootWithTree, treeIds } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'hasty';
let sys: TestSystem;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'admission-cancelled',
    config: speculativeConfig({ speculation: { limits: { gc_interval_ms: 3_600_000 } } }),
    worker: { activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent(agent);
});
afterAll(() => sys?.close());

test('a task that rolls back while its speculation request is in flight leaves no active speculation behind', async () => {
  // The parent fails on its proof (a wrong claimed output) while the child's request is still on its way.
  const shape = { agent, above: false, below: 1, ids: `slow-admission-${Date.now()}` };
  const ids = treeIds(shape);
  const [parent, child] = [ids.root, ids.below[0]!];
  // Its request reaches the control workflow only after 4 s (a busy control workflow).
  gate.delay('admitSpeculation', child, 4000);
  await failingRootWithTree(sys, shape);

  expect(await sys.wait(parent)).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed' });
  // The admission is a local activity (local-admission): the workflow hears its parent's failure only once it
  // has answered, so the child may have bonded meanwhile; then its bond is released, never left locked.
  const rolledBack = await sys.wait(child);
  expect(rolledBack).toMatchObject({ status: 'rolled_back', rollback_reason: 'parent_failed' });
  expect(rolledBack.bond?.state ?? 'released').toBe('released');
  // The delayed request has reached the control workflow by now.
  await new Promise((r) => setTimeout(r, 5000));
  const status = await pollUntil(
    'control settled',
    () => controlStatus(sys.client),
    (s) => s.open_tasks === 0,
    10_000,
  );
  expect(status.active).toEqual([]);
});
