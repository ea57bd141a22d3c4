/**
 * The worker process is killed (SIGKILL) while tasks are mid-flight and a new one is started on the
 * same chain state: every task reaches a final state and the chain invariant check passes. The second
 * test aims the kill at one interleaving: a dependent's bond lock in flight (a local activity inside the
 * workflow task that admits it: the next worker runs that workflow task again after its timeout, and the
 * lock again, which finds the bond by its content) while its parent fails on the new worker.
 */
import type { ChildProcess } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { runOperatorAction } from '../../client/commands/operator';
import { countOpenTasks, getTaskState } from '../../client/tasks';
import { taskWorkflowId } from '../../shared/task-model';
import type { IntegrityReport } from '../../shared/operator-contract';
import { failingRootWithTree } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';
import { spawnWorker } from '../helpers/worker-child';

let sys: TestSystem;
const children: ChildProcess[] = [];

function startWorkerProcess(): Promise<ChildProcess> {
  return spawnWorker(sys, children, { embeddedFinalityMs: 3000, env: { METRICS_PORT: '0' } });
}

const LOCK_KILL_ATTEMPTS = 5;
const WORKFLOW_TASK_STARTED = temporal.api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED;

beforeAll(async () => {
  // Optimistic proofs off: a failing root proves (and fails) only once the task above it is confirmed,
  // seconds later, so its dependent has time to be admitted and lock its bond; with them on the root's
  // proof can fail before the dependent's admission returns, and then it never locks.
  sys = await startTestSystem({
    name: 'crash',
    config: speculativeConfig({ speculation: { features: { enable_optimistic_proofs: false } } }),
  });
  await sys.fundAgent('default');
  await sys.fundAgent('other');
  // One agent per attempt of the bond-lock kill: an attempt's failing task is slashed, and its agent
  // may not speculate again during the cooldown, so a second attempt with the same agent never locks.
  for (let attempt = 1; attempt <= LOCK_KILL_ATTEMPTS; attempt++) await sys.fundAgent(`other-${attempt}`);
  await sys.stopWorker();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sys?.close();
});

test('a worker killed mid-flight loses nothing: a new worker brings every task to a final state', async () => {
  const first = await startWorkerProcess();
  const root = await sys.submit({ type: 'compute', payload: { value: 1 } });
  const ids = [root];
  for (const v of [2, 3, 4]) ids.push(await sys.submit({ type: 'compute', payload: { value: v }, dependsOn: root }));
  ids.push(await sys.submit({ type: 'compute', payload: { value: 5 }, dependsOn: ids[1] }));
  const failing = await failingRootWithTree(sys, { agent: 'other', above: false, below: 1 });
  ids.push(failing.root, ...failing.below);

  // Kill the worker once a bond is locked: executions, proofs, commits and further locks are in flight.
  await pollUntil(
    'a bond to be locked',
    () => Promise.all(ids.map((id) => getTaskState(sys.client, id))),
    (states) => states.some((s) => s.bond?.state === 'locked'),
    30_000,
    100,
  );
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  // Read from visibility, not by query: a query needs a live worker, and there is none now.
  expect(await countOpenTasks(sys.client)).toBeGreaterThan(0);

  const second = await startWorkerProcess();
  const finals = await Promise.all(ids.map((id) => sys.wait(id, 200_000)));
  expect(finals.map((s) => s.status)).toEqual([
    'confirmed',
    'confirmed',
    'confirmed',
    'confirmed',
    'confirmed',
    'failed',
    'rolled_back',
  ]);
  for (const s of finals.filter((f) => f.status === 'confirmed')) expect(s.commit_signature).toBeTruthy();
  for (const s of finals.filter((f) => f.bond)) expect(['released', 'slashed']).toContain(s.bond!.state);

  await expectChainIntact();
  await stopGracefully(second);
}, 360_000);

/**
 * Whether the task's bond lock is in flight, read from the server (no worker needed). The admission and the
 * lock are local activities run inside the workflow task that handles the parent's `parentExecuted` signal:
 * in flight while that workflow task is started and not completed; done once the execution it leads to is
 * scheduled.
 */
async function lockInFlight(taskId: string): Promise<'not_yet' | 'in_flight' | 'done'> {
  const handle = sys.client.workflow.getHandle(taskWorkflowId(taskId));
  const [{ raw }, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const events = history.events ?? [];
  if (events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeTask')) return 'done';
  const heard = events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'parentExecuted');
  return heard && raw.pendingWorkflowTask?.state === WORKFLOW_TASK_STARTED ? 'in_flight' : 'not_yet';
}

test('a worker killed while a dependent locks its bond, whose parent then fails: the dependent rolls back and its bond is released', async () => {
  // The parent claims a wrong output, so its proof fails; its dependent speculates on it meanwhile.
  // The kill must land while the dependent's lockBond is in flight: the window is short, so each
  // attempt that misses it runs to the end and the next attempt tries again.
  for (let attempt = 1; attempt <= LOCK_KILL_ATTEMPTS; attempt++) {
    const agent = `other-${attempt}`;
    const worker = await startWorkerProcess();
    const tree = await failingRootWithTree(sys, { agent, below: 1 });
    const [root, failing, dependent] = [tree.above!, tree.root, tree.below[0]!];
    // No pause between reads: the window is a few milliseconds wide.
    const lock = await pollUntil(
      "the dependent's admission and bond lock to begin",
      () => lockInFlight(dependent),
      (l) => l !== 'not_yet',
      60_000,
      0,
    );
    const hit = lock === 'in_flight';
    if (hit) {
      worker.kill('SIGKILL');
      await new Promise((r) => worker.once('exit', r));
    }
    const survivor = hit ? await startWorkerProcess() : worker;
    const [rootState, failingState, dependentState] = await Promise.all([
      sys.wait(root, 200_000),
      sys.wait(failing, 200_000),
      sys.wait(dependent, 200_000),
    ]);
    expect(rootState.status).toBe('confirmed');
    expect(failingState).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed' });
    if (dependentState.speculation_status === 'speculative') {
      // Locked, then rolled back because its parent failed: not its fault, so released in full.
      expect(dependentState).toMatchObject({
        status: 'rolled_back',
        rollback_reason: 'parent_failed',
        bond: { state: 'released' },
      });
    } else {
      expect(dependentState).toMatchObject({ status: 'rolled_back', rollback_reason: 'parent_failed' });
    }
    await expectChainIntact();
    await stopGracefully(survivor);
    if (hit) return;
  }
  throw new Error("no attempt killed the worker while the dependent's lockBond was in flight");
}, 900_000);

async function expectChainIntact(): Promise<void> {
  const integrity = await runOperatorAction<IntegrityReport>(sys.client, { kind: 'checkIntegrity' });
  expect(integrity.problems).toEqual([]);
  expect(integrity.ok).toBe(true);
  expect(integrity.live_bonds).toBe(0);
}

async function stopGracefully(worker: ChildProcess): Promise<void> {
  worker.kill('SIGTERM');
  expect(await new Promise((r) => worker.once('exit', (code) => r(code)))).toBe(0);
}
