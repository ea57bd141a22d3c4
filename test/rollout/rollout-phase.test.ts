/**
 * The decision matrix and the operator signals, on the real time-skipping test server with the real
 * `rollout`, `rolloutPhase` and `speculationControl` workflows and the real rollout activities; the
 * readings come from an injected metric source (test/rollout/helpers.ts) scripted per phase and
 * evaluation. Each rollout ends (completed or aborted) before the next starts: they share the one
 * control workflow whose configuration they change. The decisions themselves, row by row and at
 * their edge values, are table-tested without a workflow in rollout-decisions.test.ts.
 */
import {
  type DecisionAction,
  parsePlan,
  type RolloutPlan,
  type RolloutStatus,
  rolloutWorkflowId,
} from '../../shared/rollout-model';
import { TASK_QUEUE } from '../../shared/task-queues';
import { Worker } from '@temporalio/worker';
import { pollUntil } from '../helpers/poll';
import { createMetrics, metricsSinks } from '../../workers/metrics';
import { GREEN, startTimeSkipping, type TimeSkippingRig } from './helpers';
import {
  phaseStatusQuery,
  rolloutAbortSignal,
  rolloutApproveSignal,
  rolloutPauseSignal,
  rolloutResumeSignal,
} from '../../shared/messages';

let rig: TimeSkippingRig;
beforeAll(async () => {
  rig = await startTimeSkipping();
});
afterAll(() => rig?.close());

function plan(phases: Array<[number, string]>, extra: Record<string, unknown> = {}): RolloutPlan {
  const r = parsePlan({
    evaluation_interval: '10 minutes',
    ...extra,
    phases: phases.map(([percentage, duration], i) => ({ name: `P${i + 1}`, percentage, duration })),
  });
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.plan;
}

function start(name: string, p: RolloutPlan, extra: Record<string, unknown> = {}) {
  return rig.client.workflow.start('rollout', {
    workflowId: rolloutWorkflowId(name),
    taskQueue: TASK_QUEUE,
    args: [{ name, plan: p, ...extra }],
  });
}

/** Real-time wait (simulated time does not jump) for a signal's effect to show in the status. */
function settle(name: string, done: (s: RolloutStatus) => boolean, ms = 15_000): Promise<RolloutStatus> {
  return pollUntil(`rollout ${name}: state reached`, () => rig.status(name), done, ms, 100);
}

const actions = (s: RolloutStatus, phase: number): DecisionAction[] =>
  s.phases[phase - 1]!.decisions.map((d) => d.action);

test('green for the whole window proceeds; a finite last phase completes the rollout; rates below the minimum sample do not act and are not green', async () => {
  rig.scripts.set('proceed', (phase, n) => (phase === 1 && n === 2 ? { speculativeTasks: 10, rollbacks: 5 } : GREEN));
  const h = await start(
    'proceed',
    plan([
      [10, '1h'],
      [20, '1h'],
    ]),
  );
  const s = await rig.finish(h.workflowId.replace(/^rollout-/, ''));
  expect(s.state).toBe('completed');
  // The quiet reading is neither an incident (the window goes on) nor green (it is not evidence);
  // the phase ends on green readings with a full sample.
  expect(actions(s, 1)).toEqual([
    'percentage_set',
    'continue',
    'insufficient_evidence',
    'continue',
    'continue',
    'continue',
    'continue',
    'proceed',
  ]);
  const lowSample = s.phases[0]!.decisions[2]!;
  expect(lowSample).toMatchObject({
    action: 'insufficient_evidence',
    sample_sufficient: false,
    readings: { speculativeTasks: 10, rollbacks: 5, rollbackRate: 0.5 },
  });
  expect(lowSample.reason).toMatch(/below the minimum sample 20/);
  expect(lowSample.reason).toMatch(/insufficient evidence/);
  expect(s.phases[0]!.decisions[1]).toMatchObject({
    sample_sufficient: true,
    window: { start: expect.any(String), end: expect.any(String) },
  });
  expect(s.phases.map((p) => p.state)).toEqual(['completed', 'completed']);
  expect(Date.parse(s.phases[0]!.ended_at!) - Date.parse(s.phases[0]!.started_at!)).toBeGreaterThanOrEqual(3_600_000);
  expect(await rig.control()).toMatchObject({ enabled: true, rollout_percentage: 20 });
});

test('a phase that observes no speculative task does not proceed: it holds at its percentage and says insufficient evidence (details, status, metric) until evidence comes', async () => {
  let quiet = true;
  rig.scripts.set('quiet', (phase) => (phase === 1 && quiet ? { speculativeTasks: 0, rollbacks: 0 } : GREEN));
  await start(
    'quiet',
    plan([
      [10, '1h'],
      [20, '1h'],
    ]),
  );
  // Stop at whichever comes first: the hold, or (the old behaviour) phase 2.
  let s = await rig.advanceUntil('quiet', (st) => st.phases[0]!.state === 'holding' || (st.current_phase ?? 0) > 1);
  expect(s.current_phase).toBe(1);
  expect(s.phases[0]!.state).toBe('holding');
  expect(s.state).toBe('holding');
  expect(s.phases[0]!.evidence).toMatchObject({
    sufficient: false,
    missing: [expect.stringMatching(/0 of 20 speculative tasks/)],
  });
  expect(s.waiting_for).toMatch(/evidence/);
  const hold = s.phases[0]!.decisions.find((d) => d.action === 'hold')!;
  expect(hold.reason).toMatch(/insufficient evidence.*0 of 20 speculative tasks/);
  expect(await rig.currentDetails('rollout-quiet-phase-1')).toMatch(
    /holding.*insufficient evidence: 0 of 20 speculative tasks/,
  );
  expect(await rig.currentDetails('rollout-quiet')).toMatch(/insufficient evidence/);
  expect(await rig.gauge('speculation_rollout_insufficient_evidence', 'quiet')).toBe(1);

  // A day later it still holds at its own percentage, evaluating every interval; nothing proceeded.
  const evaluations = s.phases[0]!.evaluations;
  await rig.env.sleep('1 day');
  s = await rig.status('quiet');
  expect(s).toMatchObject({ current_phase: 1, state: 'holding' });
  expect(s.phases.map((p) => p.state)).toEqual(['holding', 'pending']);
  expect((await rig.control()).rollout_percentage).toBe(10);
  const counts = (await rig.client.workflow.getHandle('rollout-quiet-phase-1').query(phaseStatusQuery)).decision_counts;
  expect(counts.proceed).toBeUndefined();
  expect(counts.continue).toBeUndefined();
  expect(counts.insufficient_evidence).toBeGreaterThanOrEqual(evaluations + 144);

  // Evidence arrives: the next green reading on a full sample proceeds.
  quiet = false;
  s = await rig.advanceUntil('quiet', (st) => (st.current_phase ?? 0) > 1);
  expect(actions(s, 1).slice(-2)).toEqual(['continue', 'proceed']);
  expect(s.phases[0]!.state).toBe('completed');
  expect(await rig.gauge('speculation_rollout_insufficient_evidence', 'quiet')).toBe(0);
  expect((await rig.finish('quiet')).state).toBe('completed');

  // The rule's own history (its patch marker, the hold, the evidence that ended it) replays.
  const history = await rig.client.workflow.getHandle('rollout-quiet-phase-1').fetchHistory();
  expect(history.events!.some((e) => e.markerRecordedEventAttributes)).toBe(true);
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: process.env.AGENC_TEST_WORKFLOW_BUNDLE! }, sinks: metricsSinks(createMetrics()) },
    history,
    'rollout-quiet-phase-1',
  );
});

test('readings that cannot see P1 alerts or memory growth are not evidence: the phase holds and names them; approve proceeds', async () => {
  rig.scripts.set('blind', (phase) => (phase === 1 ? { ...GREEN, unknown: ['p1_alerts', 'memory_growth'] } : GREEN));
  const h = await start(
    'blind',
    plan([
      [10, '1h'],
      [20, '1h'],
    ]),
  );
  let s = await rig.advanceUntil('blind', (st) => st.phases[0]!.state === 'holding' || (st.current_phase ?? 0) > 1);
  expect(s.current_phase).toBe(1);
  expect(s.phases[0]!.state).toBe('holding');
  expect(s.phases[0]!.decisions.filter((d) => d.readings).map((d) => d.action)).not.toContain('continue');
  expect(s.phases[0]!.evidence).toMatchObject({ sufficient: false, unknown: ['p1_alerts', 'memory_growth'] });
  expect(s.phases[0]!.evidence!.missing.join('; ')).toMatch(/P1 alerts.*memory growth/);
  expect(await rig.currentDetails('rollout-blind-phase-1')).toMatch(/P1 alerts/);
  expect(await rig.gauge('speculation_rollout_insufficient_evidence', 'blind')).toBe(1);

  await h.signal(rolloutApproveSignal);
  s = await settle('blind', (st) => st.current_phase === 2 && st.phases[1]!.decisions.length > 0);
  expect(s.phases[0]!.state).toBe('approved');
  expect((await rig.finish('blind')).state).toBe('completed');
  expect((await rig.control()).rollout_percentage).toBe(20);
});

test('rollback rate > 10% halts until approve; halted, nothing is evaluated; approve proceeds to the next phase', async () => {
  rig.scripts.set('halt', (phase, n) => (phase === 1 && n === 3 ? { speculativeTasks: 40, rollbacks: 5 } : GREEN));
  const h = await start(
    'halt',
    plan([
      [10, '1h'],
      [20, '1h'],
    ]),
  );
  let s = await rig.advanceUntil('halt', (st) => st.phases[0]!.state === 'halted');
  expect(s.state).toBe('halted');
  const halt = s.phases[0]!.decisions.at(-1)!;
  expect(halt).toMatchObject({
    action: 'halt',
    sample_sufficient: true,
    readings: { speculativeTasks: 40, rollbacks: 5, rollbackRate: 0.125 },
  });
  expect(halt.reason).toMatch(/12\.5%.*> 10\.0%/);
  expect(s.waiting_for).toMatch(/approve/);
  expect((await rig.control()).rollout_percentage).toBe(10);
  const evaluations = s.phases[0]!.evaluations;
  await rig.env.sleep('1 day');
  s = await rig.status('halt');
  expect(s.phases[0]!).toMatchObject({ state: 'halted', evaluations });

  await h.signal(rolloutApproveSignal);
  s = await settle('halt', (st) => st.current_phase === 2 && st.phases[1]!.decisions.length > 0);
  expect(s.phases[0]!.state).toBe('approved');
  expect(actions(s, 1).at(-1)).toBe('operator_approve');
  expect((await rig.finish('halt')).state).toBe('completed');
  expect((await rig.control()).rollout_percentage).toBe(20);
});

test('rollback rate 5-10% or a proof queue over 80% pauses; clear for a full interval resumes by itself, and the green window restarts', async () => {
  const readings: Record<number, object> = {
    2: { speculativeTasks: 40, rollbacks: 3 }, // 7.5%: pause
    3: { ...GREEN, proofQueueDepth: 90, proofQueueCapacity: 100 }, // 90% of the queue: still paused
    4: GREEN, // clear: resumes if still clear an interval later
    5: GREEN, // auto resume
  };
  rig.scripts.set('pause', (_phase, n) => readings[n] ?? GREEN);
  const h = await start('pause', plan([[10, '1h']]));
  const s = await rig.finish(h.workflowId.replace(/^rollout-/, ''));
  expect(actions(s, 1)).toEqual([
    'percentage_set',
    'continue',
    'pause',
    'stay_paused',
    'stay_paused',
    'auto_resume',
    'continue',
    'continue',
    'continue',
    'continue',
    'continue',
    'continue',
    'proceed',
  ]);
  const d = s.phases[0]!.decisions;
  expect(d[2]!.readings).toMatchObject({ rollbackRate: 0.075, speculativeTasks: 40 });
  expect(d[3]!.reason).toMatch(/proof queue 90\/100 \(90\.0%\) > 80\.0%/);
  // Resumed at the 5th evaluation (50 min), then a whole green hour: 110 minutes in all.
  expect(Date.parse(s.phases[0]!.ended_at!) - Date.parse(s.phases[0]!.started_at!)).toBeGreaterThanOrEqual(
    110 * 60_000,
  );
  expect(s.state).toBe('completed');
});

test('memory growth > 20%/hour takes one off max_parallel_branches (once per metric window, never below 1)', async () => {
  const before = (await rig.control()).config.speculation.max_parallel_branches;
  rig.scripts.set('memory', (_phase, n) => (n === 2 || n === 3 ? { ...GREEN, memoryGrowthPerHour: 0.35 } : GREEN));
  await start('memory', plan([[10, '1h']]));
  const s = await rig.finish('memory');
  const reduce = s.phases[0]!.decisions.filter((d) => d.action === 'reduce_branches');
  expect(reduce).toHaveLength(1);
  expect(reduce[0]).toMatchObject({
    changes: { 'speculation.max_parallel_branches': Math.max(1, before - 1) },
    readings: { memoryGrowthPerHour: 0.35 },
  });
  expect((await rig.control()).config.speculation.max_parallel_branches).toBe(Math.max(1, before - 1));
  // The reduction and the reading after it are not green: the hour restarts from the 3rd evaluation.
  expect(s.phases[0]!.evaluations).toBe(9);
  expect(s.state).toBe('completed');
});

test("a P1 alert rolls back to the previous phase's percentage and halts; resume re-applies it; abort sets 0", async () => {
  rig.scripts.set('p1', (phase, n) =>
    phase === 2 && n === 2 ? { ...GREEN, p1Alerts: ['SpeculationWorkerDown'] } : GREEN,
  );
  const h = await start(
    'p1',
    plan([
      [10, '1h'],
      [20, '1h'],
      [30, '1h'],
    ]),
  );
  let s = await rig.advanceUntil('p1', (st) => st.phases[1]!.state === 'halted');
  expect(s.phases[1]!.decisions.at(-1)).toMatchObject({
    action: 'rollback_phase',
    changes: { 'speculation.features.rollout_percentage': 10 },
    readings: { p1Alerts: ['SpeculationWorkerDown'] },
  });
  expect((await rig.control()).rollout_percentage).toBe(10);

  await h.signal(rolloutResumeSignal);
  s = await settle('p1', (st) => st.phases[1]!.state === 'monitoring');
  const a = actions(s, 2);
  expect(a.slice(a.lastIndexOf('operator_resume') - 1, a.lastIndexOf('operator_resume') + 1)).toEqual([
    'percentage_set',
    'operator_resume',
  ]);
  expect((await rig.control()).rollout_percentage).toBe(20);

  await h.signal(rolloutAbortSignal, { reason: 'test abort' });
  const final = await rig.finish('p1');
  expect(final).toMatchObject({ state: 'aborted', abort_reason: 'test abort' });
  expect(final.phases.map((p) => p.state)).toEqual(['completed', 'aborted', 'pending']);
  expect((await rig.control()).rollout_percentage).toBe(0);
});

test('operator pause stops the green clock (monitoring goes on), resume restarts it, approve skips the rest of the window', async () => {
  const h = await start(
    'signals',
    plan([
      [10, '1h'],
      [20, '2h'],
    ]),
  );
  await rig.advanceUntil('signals', (st) => st.phases[0]!.evaluations >= 2);
  await h.signal(rolloutPauseSignal);
  let s = await settle('signals', (st) => st.phases[0]!.state === 'paused');
  expect(s.state).toBe('paused');
  const evaluations = s.phases[0]!.evaluations;
  await rig.env.sleep('2 hours');
  s = await rig.status('signals');
  expect(s.phases[0]!.state).toBe('paused');
  expect(s.phases[0]!.evaluations).toBeGreaterThanOrEqual(evaluations + 11);
  expect(s.phases[0]!.decisions.at(-1)).toMatchObject({ action: 'stay_paused' });
  expect(s.phases[0]!.decisions.at(-1)!.reason).toMatch(/paused by an operator/);

  await h.signal(rolloutResumeSignal);
  s = await settle('signals', (st) => st.phases[0]!.state === 'monitoring');
  const resumedAt = Date.parse(s.phases[0]!.green_since!);
  await rig.env.sleep('30 minutes');
  expect((await rig.status('signals')).phases[0]!.state).toBe('monitoring');
  await h.signal(rolloutApproveSignal);
  s = await settle('signals', (st) => st.current_phase === 2 && st.phases[1]!.decisions.length > 0);
  expect(s.phases[0]!.state).toBe('approved');
  expect(Date.parse(s.phases[0]!.ended_at!) - resumedAt).toBeLessThan(3_600_000);
  expect((await rig.control()).rollout_percentage).toBe(20);

  await h.signal(rolloutAbortSignal);
  expect((await rig.finish('signals')).state).toBe('aborted');
  expect((await rig.control()).rollout_percentage).toBe(0);
});

test('a long phase continues as new and keeps every decision', async () => {
  await start(
    'can',
    plan([
      [10, '2h'],
      [20, '1h'],
    ]),
    { phaseMaxEvaluationsPerRun: 4 },
  );
  const s = await rig.finish('can');
  expect(s.state).toBe('completed');
  expect(s.phases[0]!).toMatchObject({ state: 'completed', evaluations: 12 });
  expect(s.phases[0]!.decision_counts).toMatchObject({ percentage_set: 1, continue: 12, proceed: 1 });
  expect(actions(s, 1)).toHaveLength(14);
  const history = await rig.client.workflow.getHandle(rolloutWorkflowId('can')).fetchHistory();
  const childStarted = history.events!.find(
    (e) => e.childWorkflowExecutionStartedEventAttributes,
  )!.childWorkflowExecutionStartedEventAttributes!;
  const firstRun = await rig.client.workflow
    .getHandle(childStarted.workflowExecution!.workflowId!, childStarted.workflowExecution!.runId!)
    .describe();
  expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
});
