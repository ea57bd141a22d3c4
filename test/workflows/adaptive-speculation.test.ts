/**
 * Adaptive speculation against the real dev server, real proofs and the real SVM: the depth follows the
 * rollback rate of real speculations (down after failures, back up after confirmations), and a proof
 * backlog over its limit keeps tasks deeper than the floor from speculating. Each refusal is the task's
 * `speculation_status`, counted in `speculation_tasks_total`, and the depth in force is the gauge
 * `speculation_adaptive_depth`.
 */
import { getTaskState } from '../../client/tasks';
import { controlStatus } from '../../temporal/control';
import { PROOF_QUEUE, TASK_QUEUE } from '../../shared/task-queues';
import { failingRootWithTree } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'adaptive';

async function counted(sys: TestSystem, speculationStatus: string): Promise<number> {
  const metric = await sys.worker.metrics.tasksTotal.get();
  return metric.values
    .filter((v) => v.labels.speculation_status === speculationStatus)
    .reduce((sum, v) => sum + v.value, 0);
}

async function adaptiveDepthGauge(sys: TestSystem): Promise<number | undefined> {
  return (await sys.worker.metrics.adaptiveDepth.get()).values[0]?.value;
}

async function untilAdaptiveDepth(sys: TestSystem, depth: number): Promise<void> {
  await pollUntil(
    `adaptive depth ${depth}`,
    async () => (await controlStatus(sys.client)).adaptive,
    (a) => a?.depth === depth,
    { timeoutMs: 20_000, everyMs: 200, show: (a) => JSON.stringify(a) },
  );
  expect(await adaptiveDepthGauge(sys)).toBe(depth);
}

describe('the depth follows the rollback rate', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({
      name: 'adaptive-depth',
      config: speculativeConfig({
        speculation: {
          max_depth: 3,
          features: { enable_optimistic_proofs: false },
          // Judged over every 2 ended speculations; the machine's load is not what this test is about.
          adaptive: { enabled: true, min_samples: 2, max_load_per_core: 1000 },
        },
      }),
      worker: { embeddedFinalityMs: 3000 },
    });
    await sys.fundAgent(agent);
    await sys.fundAgent('adaptive-chain');
  });
  afterAll(() => sys?.close());

  test('two rolled-back speculations lower it to 2; a task at depth 3 then waits (adaptive_depth); two confirmations raise it to 3', async () => {
    expect(await adaptiveDepthGauge(sys)).toBe(3);
    // A root that fails its proof while it and its dependent speculate: both speculations end rolled back.
    const { above, root, below } = await failingRootWithTree(sys, { agent, below: 1 });
    const failed = await Promise.all([root, ...below].map((id) => sys.wait(id)));
    expect(failed.map((s) => [s.status, s.speculation_status])).toEqual([
      ['failed', 'speculative'],
      ['rolled_back', 'speculative'],
    ]);
    await sys.wait(above!);
    await untilAdaptiveDepth(sys, 2);

    // A chain of four, by an agent not cooling down from the slash: the fourth task would speculate at depth 3,
    // over the adapted depth.
    const chainAgent = 'adaptive-chain';
    const a = await sys.submit({ type: 'compute', payload: { value: 1 }, agent: chainAgent });
    const b = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: a, agent: chainAgent });
    const c = await sys.submit({ type: 'compute', payload: { value: 3 }, dependsOn: b, agent: chainAgent });
    const d = await sys.submit({ type: 'compute', payload: { value: 4 }, dependsOn: c, agent: chainAgent });
    const chain = await Promise.all([a, b, c, d].map((id) => sys.wait(id)));
    expect(chain.map((s) => [s.status, s.speculation_status])).toEqual([
      ['confirmed', 'non_speculative'],
      ['confirmed', 'speculative'],
      ['confirmed', 'speculative'],
      ['confirmed', 'adaptive_depth'],
    ]);
    expect(chain[3]!.bond).toBeNull();
    expect(await counted(sys, 'adaptive_depth')).toBe(1);
    // b and c confirmed: no rollback in the last two, so the depth goes back up.
    await untilAdaptiveDepth(sys, 3);
  }, 180_000);
});

describe('a saturated proof queue', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({
      name: 'adaptive-saturated',
      config: speculativeConfig({
        speculation: { adaptive: { enabled: true, max_proof_backlog: 1, max_load_per_core: 1000 } },
      }),
      // This process serves agenc-tasks only: proofs wait in the queue until the test starts a proof worker.
      worker: { queues: [TASK_QUEUE] },
    });
    await sys.fundAgent(agent);
  });
  afterAll(() => sys?.close());

  test('with more proofs waiting than max_proof_backlog, a task at the floor (depth 1) speculates and one at depth 2 waits (saturated)', async () => {
    const root = await sys.submit({ type: 'compute', payload: { value: 1 }, agent });
    const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: root, agent });
    await pollUntil(
      'two proofs waiting in agenc-proofs',
      async () => (await sys.worker.metrics.proofQueueDepth.get()).values[0]?.value ?? 0,
      (depth) => depth >= 2,
      { timeoutMs: 30_000, everyMs: 300 },
    );
    // Past the worker's one-second sample of the backlog.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const grandchild = await sys.submit({ type: 'compute', payload: { value: 3 }, dependsOn: child, agent });
    await pollUntil(
      'the grandchild to be refused',
      () => getTaskState(sys.client, grandchild),
      (s) => s.speculation_status !== 'pending',
      { timeoutMs: 30_000, everyMs: 200, show: (s) => s.speculation_status },
    );

    await sys.startExtraWorker({ queues: [PROOF_QUEUE] });
    const finals = await Promise.all([root, child, grandchild].map((id) => sys.wait(id)));
    expect(finals.map((s) => [s.status, s.speculation_status, s.bond?.state ?? null])).toEqual([
      ['confirmed', 'non_speculative', null],
      ['confirmed', 'speculative', 'released'],
      ['confirmed', 'saturated', null],
    ]);
    expect(await counted(sys, 'saturated')).toBe(1);
  }, 180_000);
});
