/**
 * A burst of proofs larger than the proof worker can prove within `timeout_ms` is the system's
 * backlog, not the agents' fault: against the real dev server, real Groth16 proofs and the real SVM,
 * one proving thread, a proof timeout a few times one warm proof, and far more proofs than that
 * thread proves within the timeout (or within the proof activity's whole start-to-close). Every task
 * still confirms and no bond is slashed.
 *
 * The proof worker starts only once the whole burst waits in `agenc-proofs`, so the backlog is the
 * burst itself, however fast this machine executes tasks (a run that raced the executions against
 * the proofs saw the backlog drain as fast as it filled).
 *
 * The backlog is served by closeness to confirmation: roots submitted after the speculative dependents'
 * proofs were queued are still proven before every one of them.
 */
import { temporal } from '@temporalio/proto';
import { createStakeOperator } from '../../activities/chain';
import { OWN_FAULT_REASONS, taskWorkflowId } from '../../shared/task-model';
import { PROOF_QUEUE, TASK_QUEUE } from '../../shared/task-queues';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const ROOTS = 5;
const DEPENDENTS_PER_ROOT = 9;
const LATE_ROOTS = 3;
// A few times one warm proof (about 0.3-1 s here), with room for a proof on a machine this suite loads.
const PROOF_TIMEOUT_MS = 8000;
const agent = 'burst';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'proof-backlog',
    config: speculativeConfig({
      speculation: {
        max_parallel_branches: DEPENDENTS_PER_ROOT,
        // The burst must drain without a parent's confirmation running out: this test is about the proof backlog.
        confirmation_timeout_ms: 600_000,
        proof: { worker_threads: 1, timeout_ms: PROOF_TIMEOUT_MS },
      },
    }),
    // This process serves agenc-tasks only; the test starts the proof worker.
    worker: { queues: [TASK_QUEUE] },
  });
  await sys.fundAgent(agent);
});
afterAll(() => sys?.close());

const { PENDING_ACTIVITY_STATE_SCHEDULED, PENDING_ACTIVITY_STATE_STARTED } = temporal.api.enums.v1.PendingActivityState;

/** The burst's proof activities as the Web UI shows them: waiting in the task queue, or taken by a worker. */
async function proofActivities(taskIds: string[]): Promise<{ waiting: number; taken: number }> {
  const described = await Promise.all(
    taskIds.map((id) => sys.client.workflow.getHandle(taskWorkflowId(id)).describe()),
  );
  const proofs = described
    .flatMap((d) => d.raw.pendingActivities ?? [])
    .filter((a) => a.activityType?.name === 'generateProof');
  return {
    waiting: proofs.filter((a) => a.state === PENDING_ACTIVITY_STATE_SCHEDULED).length,
    taken: proofs.filter((a) => a.state === PENDING_ACTIVITY_STATE_STARTED).length,
  };
}

/** When a proof worker took the task's (last) proof activity, as the history records it. */
async function proofStartedAt(taskId: string): Promise<number> {
  const history = await sys.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  const events = history.events ?? [];
  const scheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'generateProof')
      .map((e) => String(e.eventId)),
  );
  const started = events.filter((e) => scheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)));
  const t = started[started.length - 1]!.eventTime!;
  return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

async function proofQueueDepthGauge(): Promise<number> {
  const metric = await sys.worker.metrics.proofQueueDepth.get();
  return metric.values[0]?.value ?? 0;
}

test('a burst of proofs larger than the workers can prove within timeout_ms slashes nobody', async () => {
  const operator = createStakeOperator(sys.worker.stakeDeps!);
  const before = (await operator.stakeStatus({ agent })).agents[0]!;

  const roots = await Promise.all(
    Array.from({ length: ROOTS }, (_, r) => sys.submit({ type: 'compute', payload: { value: r }, agent })),
  );
  const dependents = await Promise.all(
    roots.flatMap((root, r) =>
      Array.from({ length: DEPENDENTS_PER_ROOT }, (_, d) =>
        sys.submit({ type: 'compute', payload: { value: r * 100 + d }, dependsOn: root, agent }),
      ),
    ),
  );
  const early = [...roots, ...dependents];
  // Late roots: their proofs enter the queue after every dependent's, yet their tasks confirm as soon as
  // they are proven, so they go first (priority by closeness to confirmation), not last as in FIFO order.
  await pollUntil(
    'the first wave waiting in agenc-proofs',
    () => proofActivities(early),
    (seen) => seen.waiting === early.length,
    240_000,
    1000,
  );
  const lateRoots = await Promise.all(
    Array.from({ length: LATE_ROOTS }, (_, r) => sys.submit({ type: 'compute', payload: { value: 1000 + r }, agent })),
  );
  const all = [...early, ...lateRoots];
  const settled = Promise.all(all.map((id) => sys.wait(id, 540_000)));

  // With no proof worker yet, every proof waits in Temporal's task queue, where any proof worker can take it.
  await pollUntil(
    'the whole burst waiting in the agenc-proofs task queue',
    () => proofActivities(all),
    (seen) => seen.waiting === all.length,
    240_000,
    1000,
  );
  await pollUntil(
    'speculation_proof_queue_depth to count the backlog',
    proofQueueDepthGauge,
    (depth) => depth > 0,
    20_000,
    500,
  );

  // One proof worker with one proving thread takes one proof at a time; the rest stays in the queue.
  const drainStarted = Date.now();
  await sys.startExtraWorker({ queues: [PROOF_QUEUE] });
  let done = false;
  void settled.finally(() => (done = true));
  let mostTaken = 0;
  while (!done) {
    mostTaken = Math.max(mostTaken, (await proofActivities(all)).taken);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(mostTaken).toBeLessThanOrEqual(1);
  // The premise: the last proofs waited longer than an agent's whole proving time.
  expect(Date.now() - drainStarted).toBeGreaterThan(PROOF_TIMEOUT_MS);

  const finals = await settled;

  // The order the one proving thread took the proofs in: every late root's before any dependent's.
  const proofStarts = new Map(await Promise.all(all.map(async (id) => [id, await proofStartedAt(id)] as const)));
  const lastLateRoot = Math.max(...lateRoots.map((id) => proofStarts.get(id)!));
  const firstDependent = Math.min(...dependents.map((id) => proofStarts.get(id)!));
  expect(lastLateRoot).toBeLessThan(firstDependent);

  const ownFaults = finals.filter((s) => s.rollback_reason !== null && OWN_FAULT_REASONS.includes(s.rollback_reason));
  expect(ownFaults.map((s) => `${s.task_id}: ${s.rollback_reason} (${s.error})`)).toEqual([]);
  expect(
    finals.filter((s) => s.status !== 'confirmed').map((s) => `${s.task_id}: ${s.status} (${s.rollback_reason})`),
  ).toEqual([]);
  const bonded = finals.filter((s) => s.bond);
  expect(bonded.length).toBeGreaterThan(0); // stake was at risk: the burst speculated
  expect(bonded.filter((s) => s.bond!.state !== 'released').map((s) => `${s.task_id}: ${s.bond!.state}`)).toEqual([]);

  const after = (await operator.stakeStatus({ agent })).agents[0]!;
  expect(after.slashed - before.slashed).toBe(0);
  expect(after.locked_in_bonds).toBe(0);
  const integrity = await operator.checkIntegrity({ liveBonds: [] });
  expect(integrity.problems).toEqual([]);
}, 600_000);
