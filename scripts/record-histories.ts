/**
 * Records the replay fixtures of test/replay/replay.test.ts: runs each scenario against the project's
 * real system (a Temporal dev server, the real worker with the suite's workflow bundle, real proofs,
 * the embedded SVM; the rollouts on the time-skipping test server), checks that it took the path the
 * fixture is meant to cover, and writes every history as `temporal workflow show --output json` does.
 *
 *   npx tsx scripts/record-histories.ts
 *
 * Re-record only after a deliberately incompatible workflow change (README, "Changing workflow
 * code"). The fixtures are replaced only when every scenario succeeded, so a failed run leaves the
 * committed ones as they were; the ones replaced move to `histories/landed/<commit>/` and keep being
 * replayed; `histories/before-patches/` (histories of the code before a `patched()` change) is never
 * touched. A fixture's file name is the workflow id it ran under (histories do not
 * carry it, and the replay gives it back to the workflow), except the operator action, whose id the
 * CLI draws at random.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { runOperatorAction } from '../client/commands/operator';
import { controlHandle } from '../temporal/control';
import { getTaskState } from '../client/tasks';
import {
  drainSignal,
  forceRollbackSignal,
  pauseSignal,
  resumeSignal,
  rolloutApproveSignal,
  setConfigUpdate,
  taskStateQuery,
} from '../shared/messages';
import { parsePlan, phaseWorkflowId, type RolloutStatus, rolloutWorkflowId } from '../shared/rollout-model';
import { type TaskState, taskWorkflowId } from '../shared/task-model';
import { TASK_QUEUE } from '../shared/task-queues';
import globalSetup from '../test/global-setup';
import globalTeardown from '../test/global-teardown';
import { pollUntil } from '../test/helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, type TestSystem } from '../test/helpers/system';
import { historyToJson } from '../test/replay/history-json';
import { GREEN, startTimeSkipping, type TimeSkippingRig } from '../test/rollout/helpers';

const HISTORIES_DIR = path.join(__dirname, '..', 'test', 'replay', 'histories');
const log = (m: string) => process.stderr.write(`[record] ${m}\n`);

/**
 * The fixtures about to be replaced move to `histories/landed/<commit>/`, named for the last commit that
 * recorded them, and stay there: runs started by that build replay on every later build, so a behaviour
 * change that went in without a `patched()` fails the replay test even though the new fixtures were
 * re-recorded with it.
 */
function keepLandedFixtures(): void {
  const current = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));
  if (!current.length) return;
  const commit = spawnSync(
    'git',
    ['log', '-1', '--format=%cs-%h', '--', ...current.map((f) => path.join(HISTORIES_DIR, f))],
    {
      encoding: 'utf8',
    },
  ).stdout?.trim();
  const dir = path.join(HISTORIES_DIR, 'landed', commit || `before-${new Date().toISOString().slice(0, 10)}`);
  mkdirSync(dir, { recursive: true });
  for (const file of current) renameSync(path.join(HISTORIES_DIR, file), path.join(dir, file));
  log(`the fixtures they replace are kept in ${path.relative(process.cwd(), dir)}`);
}

/**
 * Fixture name → the workflow whose history it is (its latest run, or `runId`). An earlier run of a task (its
 * attempt n) is named `task-<id>.attempt-<n>`: replayed under that id, which only the state shows.
 */
type Recorded = Map<string, { client: Client; workflowId: string; runId?: string }>;

/** A scenario that took another path would record a fixture covering the wrong thing: stop instead. */
function expectState(
  state: TaskState,
  expected: Partial<Record<'status' | 'speculation_status' | 'rollback_reason' | 'bond', unknown>>,
): void {
  const actual = {
    status: state.status,
    speculation_status: state.speculation_status,
    rollback_reason: state.rollback_reason,
    bond: state.bond?.state ?? null,
  };
  for (const [key, value] of Object.entries(expected)) {
    if (actual[key as keyof typeof actual] !== value) {
      throw new Error(
        `task ${state.task_id} took another path than its fixture covers: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
      );
    }
  }
}

async function untilSpeculating(sys: TestSystem, ids: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ids.map((id) => getTaskState(sys.client, id)));
    if (states.every((s) => s.speculation_status === 'speculative' && s.bond?.state === 'locked')) return;
    if (Date.now() > deadline || states.some((s) => s.status === 'failed' || s.status === 'rolled_back')) {
      throw new Error(
        `expected speculating with a locked bond: ${states.map((s) => `${s.task_id} ${s.status}/${s.speculation_status}/${s.bond?.state}`).join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startRecordingSystem(): Promise<TestSystem> {
  return startTestSystem({
    name: 'record',
    config: {
      speculation: {
        ...SPECULATIVE_CONFIG.speculation,
        // One speculative child per parent, so the second child of a parent is refused (branch_limit).
        max_parallel_branches: 1,
        // Proofs wait for the parent's confirmation, and confirmations take the emulated finality:
        // dependents are speculating well before anything above them can fail or confirm.
        features: { rollout_percentage: 100, enable_optimistic_proofs: false },
      },
    },
    worker: { embeddedFinalityMs: 4000 },
  });
}

async function recordTasks(sys: TestSystem, recorded: Recorded): Promise<void> {
  const task = (name: string) => {
    recorded.set(`task-${name}`, { client: sys.client, workflowId: taskWorkflowId(name) });
    return name;
  };
  // A clean-up round every 2 s, set through the Update operators use, so the control history has its timers and activity.
  await controlHandle(sys.client).executeUpdate(setConfigUpdate, {
    args: [{ 'speculation.limits.gc_interval_ms': 2000 }],
  });
  recorded.set('speculation-control', { client: sys.client, workflowId: 'speculation-control' });
  // Agents apart: the slash in the cascade puts its agent in cooldown.
  for (const agent of [
    'confirm-agent',
    'cascade-agent',
    'force-agent',
    'join-agent',
    'checkpoint-agent',
    'deadline-agent',
  ])
    await sys.fundAgent(agent);

  log('a speculative child confirmed after its parent; a second child refused by the branch limit');
  const parent = await sys.submit({
    type: 'compute',
    payload: { value: 100 },
    agent: 'confirm-agent',
    taskId: task('confirmed-parent'),
  });
  const child = await sys.submit({
    type: 'compute',
    payload: { value: 200 },
    dependsOn: parent,
    agent: 'confirm-agent',
    taskId: task('confirmed-speculative'),
  });
  await untilSpeculating(sys, [child]);
  const refused = await sys.submit({
    type: 'compute',
    payload: { value: 300 },
    dependsOn: parent,
    agent: 'confirm-agent',
    taskId: task('refused-branch-limit'),
  });
  expectState(await sys.wait(parent), { status: 'confirmed', speculation_status: 'non_speculative' });
  expectState(await sys.wait(child), { status: 'confirmed', speculation_status: 'speculative', bond: 'released' });
  expectState(await sys.wait(refused), { status: 'confirmed', speculation_status: 'branch_limit' });

  log('cascade: a speculative task fails its proof (slashed), its speculative dependent rolls back');
  const gate = await sys.submit({
    type: 'compute',
    payload: { value: 1 },
    agent: 'cascade-agent',
    taskId: 'cascade-gate',
  });
  const failed = await sys.submit({
    type: 'compute',
    payload: { value: 2, claimed_output: '12345' },
    dependsOn: gate,
    agent: 'cascade-agent',
    taskId: task('failed-slashed'),
  });
  const dependent = await sys.submit({
    type: 'compute',
    payload: { value: 3 },
    dependsOn: failed,
    agent: 'cascade-agent',
    taskId: task('rolled-back-cascade'),
  });
  await untilSpeculating(sys, [failed, dependent]);
  expectState(await sys.wait(failed), { status: 'failed', rollback_reason: 'proof_failed', bond: 'slashed' });
  expectState(await sys.wait(dependent), { status: 'rolled_back', rollback_reason: 'parent_failed', bond: 'released' });
  expectState(await sys.wait(gate), { status: 'confirmed' });

  log('a join: a speculative task on two parents, one of them an order edge, confirmed after both');
  const joinData = await sys.submit({ type: 'compute', payload: { value: 5 }, agent: 'join-agent', taskId: 'join-a' });
  const joinOrder = await sys.submit({ type: 'compute', payload: { value: 6 }, agent: 'join-agent', taskId: 'join-b' });
  const join = await sys.submit({
    type: 'compute',
    payload: { value: 7 },
    dependsOn: [joinData, `${joinOrder}:order`],
    agent: 'join-agent',
    taskId: task('confirmed-join'),
  });
  await untilSpeculating(sys, [join]);
  expectState(await sys.wait(join), { status: 'confirmed', speculation_status: 'speculative', bond: 'released' });

  log('a forced rollback of a speculative task');
  const forcedParent = await sys.submit({
    type: 'compute',
    payload: { value: 10 },
    agent: 'force-agent',
    taskId: 'forced-parent',
  });
  const forced = await sys.submit({
    type: 'compute',
    payload: { value: 11 },
    dependsOn: forcedParent,
    agent: 'force-agent',
    taskId: task('forced-rollback'),
  });
  await untilSpeculating(sys, [forced]);
  await sys.client.workflow
    .getHandle(taskWorkflowId(forced))
    .signal(forceRollbackSignal, { reason: 'recording the replay fixture' });
  expectState(await sys.wait(forced), { status: 'rolled_back', rollback_reason: 'forced', bond: 'released' });
  expectState(await sys.wait(forcedParent), { status: 'confirmed' });

  await recordAttemptsUndoAndDeadline(sys, recorded);

  log('an operator action (agenc stake status)');
  await runOperatorAction(sys.client, { kind: 'stakeStatus', input: { agent: 'confirm-agent' } });
  // The CLI draws the operator action's id; visibility (eventually consistent) says which it was.
  const listOperatorActions = async () => {
    const ids: string[] = [];
    for await (const w of sys.client.workflow.list({ query: 'WorkflowType="operatorAction"' })) ids.push(w.workflowId);
    return ids;
  };
  const [operator] = await pollUntil(
    'the operator action listed in visibility',
    listOperatorActions,
    (ids) => ids.length === 1,
    10_000,
    200,
  );
  recorded.set('operator-action-stake-status', { client: sys.client, workflowId: operator! });

  log('the operator signals on the control workflow, then it is ended so its history is a closed run');
  for (const signal of [pauseSignal, resumeSignal, drainSignal, resumeSignal])
    await controlHandle(sys.client).signal(signal);
  await controlHandle(sys.client).terminate('replay fixture recorded');
}

/** The runs of a workflow, oldest first (visibility is eventually consistent: waits for `count`). */
async function runIds(client: Client, workflowId: string, count: number): Promise<string[]> {
  const list = async () => {
    const runs: Array<{ runId: string; start: number }> = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = "${workflowId}"` }))
      runs.push({ runId: w.runId, start: w.startTime.getTime() });
    return runs.sort((a, b) => a.start - b.start).map((r) => r.runId);
  };
  return pollUntil(`${count} runs of ${workflowId}`, list, (ids) => ids.length === count, 10_000, 200);
}

async function recordAttemptsUndoAndDeadline(sys: TestSystem, recorded: Recorded): Promise<void> {
  log(
    'checkpoint, undo, deadline: a record task speculating on a failing task is undone, and both are re-attempted once',
  );
  await controlHandle(sys.client).executeUpdate(setConfigUpdate, {
    args: [
      {
        'speculation.rollback_policy': 'checkpoint',
        'speculation.max_retries': 1,
        'speculation.retry_backoff_ms': 200,
        'speculation.claim_buffer_ms': 500,
        // The slash of the first attempt would keep the agent from speculating on the second.
        'speculation.stake.cooldown_period_ms': 0,
      },
    ],
  });
  process.env.AGENC_RECORDS_DB = path.join(sys.dir, 'records.sqlite');
  const gate = await sys.submit({
    type: 'compute',
    payload: { value: 1 },
    agent: 'checkpoint-agent',
    taskId: 'checkpoint-gate',
  });
  const root = await sys.submit({
    type: 'compute',
    payload: { value: 2, claimed_output: '12345' },
    dependsOn: gate,
    agent: 'checkpoint-agent',
    taskId: 'checkpoint-root',
  });
  const undone = await sys.submit({
    type: 'record',
    payload: { value: 3, note: 'replay fixture' },
    dependsOn: root,
    agent: 'checkpoint-agent',
    taskId: 'checkpoint-record',
  });
  await untilSpeculating(sys, [root, undone]);
  const deadlineParent = await sys.submit({
    type: 'compute',
    payload: { value: 4 },
    agent: 'deadline-agent',
    taskId: 'deadline-parent',
  });
  const expired = await sys.submit({
    type: 'compute',
    payload: { value: 5 },
    dependsOn: deadlineParent,
    agent: 'deadline-agent',
    taskId: 'deadline-expired',
    deadline: '3s',
  });
  await untilSpeculating(sys, [expired]);
  expectState(await sys.wait(expired), { status: 'rolled_back', rollback_reason: 'claim_expired', bond: 'released' });
  recorded.set('task-deadline-expired', { client: sys.client, workflowId: taskWorkflowId(expired) });

  const lastAttempt = async (taskId: string) =>
    pollUntil(
      `${taskId}'s attempt 2 to end`,
      () => getTaskState(sys.client, taskId),
      (s) => s.attempt === 2 && ['failed', 'rolled_back', 'confirmed'].includes(s.status) && !s.retry,
      120_000,
      200,
    );
  expectState(await lastAttempt(root), { status: 'failed', rollback_reason: 'proof_failed' });
  expectState(await lastAttempt(undone), { status: 'rolled_back', rollback_reason: 'parent_failed' });
  for (const taskId of [root, undone]) {
    const [first, second] = await runIds(sys.client, taskWorkflowId(taskId), 2);
    const firstRun = await sys.client.workflow.getHandle(taskWorkflowId(taskId), first).query(taskStateQuery);
    if (taskId === undone && firstRun.undo?.state !== 'undone')
      throw new Error(`checkpoint-record's first attempt took another path: ${JSON.stringify(firstRun)}`);
    recorded.set(`task-${taskId}.attempt-1`, { client: sys.client, workflowId: taskWorkflowId(taskId), runId: first });
    recorded.set(`task-${taskId}`, { client: sys.client, workflowId: taskWorkflowId(taskId), runId: second });
  }
  await controlHandle(sys.client).executeUpdate(setConfigUpdate, {
    args: [{ 'speculation.rollback_policy': 'cascade' }],
  });
}

async function recordRollout(rig: TimeSkippingRig, recorded: Recorded): Promise<void> {
  const name = 'replay';
  // Phase 1 halts on its third evaluation; an operator approves, and phase 2 runs green to the end.
  rig.scripts.set(name, (phase, n) => (phase === 1 && n === 3 ? { speculativeTasks: 40, rollbacks: 5 } : GREEN));
  const plan = parsePlan({
    evaluation_interval: '10 minutes',
    phases: [
      { name: 'P1', percentage: 10, duration: '1h' },
      { name: 'P2', percentage: 20, duration: '1h' },
    ],
  });
  if (!plan.ok) throw new Error(plan.problems.join('; '));
  const handle = await rig.client.workflow.start('rollout', {
    workflowId: rolloutWorkflowId(name),
    taskQueue: TASK_QUEUE,
    args: [{ name, plan: plan.plan }],
  });
  await rig.advanceUntil(name, (s) => s.phases[0]?.state === 'halted');
  await handle.signal(rolloutApproveSignal);
  const done: RolloutStatus = await rig.finish(name);
  if (done.state !== 'completed' || done.phases.map((p) => p.state).join() !== 'approved,completed') {
    throw new Error(
      `the rollout took another path than its fixture covers: ${done.state}, phases ${done.phases.map((p) => p.state).join()}`,
    );
  }
  recorded.set(rolloutWorkflowId(name), { client: rig.client, workflowId: rolloutWorkflowId(name) });
  for (const n of [1, 2])
    recorded.set(phaseWorkflowId(name, n), { client: rig.client, workflowId: phaseWorkflowId(name, n) });
}

async function main(): Promise<void> {
  await globalSetup();
  const recorded: Recorded = new Map();
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const sys = await startRecordingSystem();
    cleanups.push(() => sys.close());
    await recordTasks(sys, recorded);
    const rig = await startTimeSkipping();
    cleanups.push(() => rig.close());
    await recordRollout(rig, recorded);

    // Everything fetched before anything is written: a failure here also leaves the old fixtures.
    const fixtures = new Map<string, string>();
    for (const [fixture, { client, workflowId, runId }] of recorded) {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      fixtures.set(`${fixture}.json`, `${JSON.stringify(historyToJson(history), null, 1)}\n`);
    }
    mkdirSync(HISTORIES_DIR, { recursive: true });
    keepLandedFixtures();
    for (const [file, json] of [...fixtures].sort()) {
      writeFileSync(path.join(HISTORIES_DIR, file), json);
      log(`${file}: ${(json.length / 1024).toFixed(0)} KB`);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log(`clean-up: ${String(err)}`));
    await globalTeardown();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`failed, fixtures left as they were: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
