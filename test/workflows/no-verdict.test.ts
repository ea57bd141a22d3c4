/**
 * Every task workflow ends in a final status with its compensations run, whatever a step or a related
 * workflow does. Against the real dev server, proofs and SVM: a dependent whose parent's workflow closed
 * without a verdict (terminated by an operator) rolls back within a bounded time and says why; a bond that
 * cannot be taken (an agent without a wallet) makes the task run without speculation instead of failing it.
 */
import { getTaskState } from '../../client/tasks';
import { taskWorkflowId } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'steady';
let sys: TestSystem;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'no-verdict',
    config: speculativeConfig({
      speculation: {
        // How often a waiting dependent looks whether its parent still runs (doubling up to 8 times this).
        limits: { gc_interval_ms: 500 },
        features: { enable_cross_agent_speculation: true },
      },
    }),
    worker: { activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent(agent);
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

test('a parent terminated by an operator: its dependent, waiting for the confirmation, rolls back within seconds and says why', async () => {
  const parent = `nv-parent-${Date.now()}`;
  gate.hold('generateProof', parent);
  await sys.submit({ taskId: parent, type: 'compute', payload: { value: 1 }, agent });
  const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: parent, agent });
  const grandchild = await sys.submit({ type: 'compute', payload: { value: 3 }, dependsOn: child, agent });
  // The child speculates on the executed parent; the grandchild waits for the child.
  await pollUntil(
    'the child waits for its parent',
    () => getTaskState(sys.client, child),
    (s) => ['awaiting_ancestors', 'proving'].includes(s.status),
  );

  await sys.client.workflow.getHandle(taskWorkflowId(parent)).terminate('test: an operator terminates the parent');
  const terminatedAt = Date.now();
  const c = await sys.wait(child, 30_000);
  expect(c).toMatchObject({ status: 'rolled_back', rollback_reason: 'parent_failed' });
  expect(c.error).toMatch(new RegExp(`parent task ${parent}'s workflow closed while proving, without a verdict`));
  expect(Date.now() - terminatedAt).toBeLessThan(20_000);
  if (c.bond) expect(c.bond.state).toBe('released');
  expect(await sys.wait(grandchild, 30_000)).toMatchObject({ status: 'rolled_back' });
});

test('an agent without a wallet: the bond cannot be taken, the dependent runs without speculation and confirms', async () => {
  const parent = `nv-funded-${Date.now()}`;
  const releaseParent = gate.hold('generateProof', parent);
  await sys.submit({ taskId: parent, type: 'compute', payload: { value: 4 }, agent });
  const child = await sys.submit({ type: 'compute', payload: { value: 5 }, dependsOn: parent, agent: 'walletless' });
  const waiting = await pollUntil(
    'the child falls back',
    () => getTaskState(sys.client, child),
    (s) => s.speculation_status !== 'pending',
  );
  expect(waiting).toMatchObject({ speculation_status: 'stake_limit', bond: null });
  expect(waiting.error).toMatch(/walletless/);
  releaseParent();
  expect(await sys.wait(child)).toMatchObject({ status: 'confirmed', speculation_status: 'stake_limit', bond: null });
});
