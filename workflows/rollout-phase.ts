/**
 * `rolloutPhase`: one phase of a rollout (`rollout-<name>-phase-<n>`), a child of `rollout`.
 *
 * It sets the phase's percentage through the control workflow's `setConfig` update (an activity:
 * a workflow cannot call another workflow's update), then evaluates the runbook's decision matrix
 * every `evaluation_interval` over the last `metric_window` of readings:
 *
 * | reading (rates only with ≥ min_sample speculative tasks) | action                                   |
 * |----------------------------------------------------------|------------------------------------------|
 * | a firing P1 alert                                         | percentage back to the previous phase's (0 for the first), halt |
 * | rollback rate > 10%                                       | halt: wait for approve, resume or abort |
 * | rollback rate 5-10%, or proof queue > 80% of capacity     | pause; resume by itself once readings are clear for a full interval |
 * | memory growth > 20%/hour                                  | max_parallel_branches - 1 (min 1), at most once per metric window |
 * | nothing fires, but < min_sample speculative tasks, or a signal the source cannot observe | insufficient evidence: not green, the window goes on |
 * | green for the phase's whole duration, ending on evidence  | proceed                                  |
 * | the duration is over, the latest reading no evidence      | hold: keep the percentage, evaluate, proceed on the first evidence (or approve / abort) |
 *
 * "Green for the whole window": the phase proceeds when `duration` has passed since the current green
 * stretch began (the phase start, or the last non-green reading / resume), so a phase with an
 * incident lasts longer than its nominal duration. Evidence (patch `rollout-evidence`): a reading
 * is evidence when it is green on at least `min_sample` speculative tasks with every signal of the
 * matrix observed (shared/rollout-model.ts `judgeReading`). A quiet reading is not an incident (it
 * does not restart the window) but not green either: a phase that saw no speculative task, or whose
 * source cannot see P1 alerts or memory growth, never proceeds by itself. Runs started before the
 * patch keep the old rule (below the sample counts as green) until they continue as new.
 * While halted nothing is evaluated: the phase waits
 * for an operator. The last phase may be "ongoing": it keeps evaluating until abort (or approve,
 * which ends the rollout as done); with a finite duration it proceeds (ends the rollout) like any other.
 *
 * History stays bounded: every wait is a `condition` with a timeout (no polling loop), and the phase
 * continues as new when the server suggests it or after `maxEvaluationsPerRun` evaluations,
 * carrying its state (an ongoing phase can run for months). Every decision is logged and signalled
 * to the rollout (the quiet readings of an ongoing or holding phase, all the same, at most once per
 * metric window). `speculation_rollout_insufficient_evidence{rollout}` follows the latest reading
 * through the `rollout` sink (no command, nothing on replay).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  proxySinks,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  type Decision,
  type DecisionAction,
  judgeReading,
  MAX_DECISIONS_KEPT,
  type MetricWindow,
  type PhaseCarry,
  type PhaseEvidence,
  type PhaseInput,
  type PhaseOutcome,
  type PhaseResult,
  type PhaseStatus,
  type RolloutActivities,
  type RolloutReadings,
  rolloutWorkflowId,
  windowVerdict,
} from '../shared/rollout-model';
import type { MetricsSinks } from '../shared/metrics-sink';
import { SA } from '../shared/search-attributes';
import { phaseDecisionSignal, phaseStatusQuery, rolloutAbortSignal, rolloutApproveSignal, rolloutPauseSignal, rolloutResumeSignal } from '../shared/messages';

const control = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
});
/** A reading that fails three times is recorded as `no_data` rather than stalling the phase. */
const metrics = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '20s', maximumAttempts: 3 },
});

const { rollout: rolloutSink } = proxySinks<MetricsSinks>();

const DEFAULT_MAX_EVALUATIONS_PER_RUN = 1000;
/**
 * The evidence rule: below `min_sample` (or with a signal unobserved) a reading is not green and a
 * phase whose window ends on it holds. It changes the signals a phase sends (and when it ends), so a
 * phase started by the code before it replays without it.
 */
export const EVIDENCE_PATCH = 'rollout-evidence';
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export async function rolloutPhase(input: PhaseInput): Promise<PhaseResult> {
  // Decided once per run, first: a run started before the patch keeps the old rule to its end (or its
  // continue-as-new), instead of switching in the middle of the history it replays.
  const evidenceRule = patched(EVIDENCE_PATCH);
  const { plan, phase: n } = input;
  const p = plan.phases[n - 1];
  if (!p) throw new Error(`phase ${n} is not in the plan (${plan.phases.length} phases)`);
  const isLast = n === plan.phases.length;
  const interval = plan.evaluation_interval_ms;
  const t = plan.thresholds;
  const c: PhaseCarry = input.carried ?? {
    startedAt: Date.now(),
    state: 'monitoring',
    greenSince: null,
    clearSince: null,
    pauseKind: null,
    lastReduceAt: null,
    percentageSet: false,
    evaluations: 0,
    decisions: [],
    decisionsDropped: 0,
    decisionCounts: {},
    nextEvalAt: 0,
    rolledBack: false,
  };

  // Operator requests, acted on by the main loop (one place changes state).
  let pauseReq = false;
  let resumeReq = false;
  let approveReq = false;
  let abortReq: { reason: string } | undefined;
  let orphaned = false;
  let endedAt: number | null = null;

  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const waitingFor = (): string | null => {
    if (endedAt !== null) return null;
    if (!c.nextEvalAt) return "the control workflow to take this phase's percentage";
    const next = `next evaluation ${iso(c.nextEvalAt)}`;
    switch (c.state) {
      case 'monitoring':
        return p.duration_ms === null
          ? `ongoing: ${next}; runs until abort (or approve to end the rollout)`
          : `green until ${iso((c.greenSince ?? Date.now()) + p.duration_ms)} to proceed (${next})`;
      case 'holding':
        return `evidence to proceed: a green reading on at least ${t.min_sample} speculative tasks with every signal observed (${next}); or approve (proceed anyway) or abort`;
      case 'paused':
        return c.pauseKind === 'metrics'
          ? `readings to be clear for a full interval (${Math.round(interval / 60_000)} min; ${next}), or resume / approve`
          : 'an operator: resume or approve';
      case 'halted':
        return `an operator: approve (proceed), resume (retry this phase${c.rolledBack ? ' at its percentage' : ''}) or abort`;
      default:
        return null;
    }
  };
  const status = (): PhaseStatus => ({
    phase: n,
    name: p.name,
    percentage: p.percentage,
    duration: p.duration,
    state: c.state,
    started_at: iso(c.startedAt),
    ended_at: iso(endedAt),
    green_since: iso(c.greenSince),
    evaluations: c.evaluations,
    decisions: c.decisions,
    decisions_dropped: c.decisionsDropped,
    decision_counts: c.decisionCounts,
    waiting_for: waitingFor(),
    ...(c.evidence ? { evidence: c.evidence } : {}),
  });
  const details = () => {
    const w = waitingFor();
    const lacking = endedAt === null && c.evidence?.insufficient ? ` — insufficient evidence: ${c.evidence.missing.join('; ')}` : '';
    setCurrentDetails(`**Phase ${n}/${plan.phases.length} ${p.name} (${p.percentage}%)**: ${c.state}${lacking}${w ? ` — waiting for ${w}` : ''}`);
  };
  // Long enough to outlast a late evaluation, short enough that a worker which no longer runs this
  // phase stops reporting it soon.
  const evidenceTtl = 2 * interval + 60_000;
  const setEvidence = (e: Omit<PhaseEvidence, 'at'>, at: number) => {
    c.evidence = { ...e, at: iso(at)! };
    rolloutSink.evidence(input.rollout, n, e.insufficient, evidenceTtl);
  };

  const parent = () => getExternalWorkflowHandle(rolloutWorkflowId(input.rollout));
  const record = async (
    action: DecisionAction,
    reason: string,
    extra: { readings?: RolloutReadings; window?: MetricWindow; sample_sufficient?: boolean; changes?: Record<string, unknown> } = {},
  ) => {
    const decision: Decision = { phase: n, at: new Date().toISOString(), action, reason, ...extra };
    c.decisions.push(decision);
    if (c.decisions.length > MAX_DECISIONS_KEPT) {
      c.decisions.splice(0, c.decisions.length - MAX_DECISIONS_KEPT);
      c.decisionsDropped += 1;
    }
    c.decisionCounts[action] = (c.decisionCounts[action] ?? 0) + 1;
    log.info(`rollout ${input.rollout} phase ${n}: ${action}: ${reason}`, { rollout: input.rollout, phase: n, decision });
    details();
    // The ongoing phase, and a phase holding for evidence (for as long as it takes), report their
    // quiet readings to the rollout at most once per metric window while they stay the same (their own
    // status and log keep every one): the rollout's history stays bounded for months.
    const quiet = action === 'continue' || (evidenceRule && action === 'insufficient_evidence');
    if (quiet && (p.duration_ms === null || c.state === 'holding')) {
      const now = Date.now();
      const same = (c.lastQuietAction ?? 'continue') === action;
      if (same && c.lastQuietReportAt !== undefined && now - c.lastQuietReportAt < plan.metric_window_ms) return;
      c.lastQuietReportAt = now;
      c.lastQuietAction = action;
    }
    try {
      await parent().signal(phaseDecisionSignal, { decision, status: { ...status(), decisions: [] } });
    } catch {
      // The rollout is gone (terminated): nothing is left to report to; the phase ends itself.
      orphaned = true;
    }
  };

  const applyPercentage = async () => {
    const changes: Record<string, unknown> = { 'speculation.features.rollout_percentage': p.percentage };
    if (n === 1) changes['speculation.enabled'] = true;
    await control.applyRolloutConfig(changes);
    c.percentageSet = true;
    c.rolledBack = false;
    await record('percentage_set', `rollout_percentage ${p.percentage}%${n === 1 ? ', speculation enabled' : ''}`, { changes });
  };

  const end = async (outcome: PhaseOutcome, reason: string): Promise<PhaseResult> => {
    c.state = outcome === 'completed' ? 'completed' : outcome === 'approved' ? 'approved' : outcome === 'aborted' ? 'aborted' : 'failed';
    endedAt = Date.now();
    details();
    // The phase no longer holds anything up: the next phase reports its own evidence.
    rolloutSink.evidence(input.rollout, n, false, evidenceTtl);
    log.info(`rollout ${input.rollout} phase ${n} ended: ${outcome}: ${reason}`);
    // The rollout has every decision already (by signal): the result carries the final status only.
    const result: PhaseResult = { phase: n, outcome, status: { ...status(), decisions: [] } };
    await condition(allHandlersFinished);
    return result;
  };

  setHandler(rolloutPauseSignal, () => void (pauseReq = true), {
    description: 'Pause the phase: the green clock stops; evaluation goes on; only resume or approve ends it.',
  });
  setHandler(rolloutResumeSignal, () => void (resumeReq = true), {
    description: "Resume from a pause or halt: monitoring restarts (after a P1 roll-back, this phase's percentage is re-applied).",
  });
  setHandler(rolloutApproveSignal, () => void (approveReq = true), { description: 'Skip the rest of the window (or leave a halt or pause) and proceed.' });
  setHandler(rolloutAbortSignal, (arg) => void (abortReq = { reason: arg?.reason ?? 'aborted by an operator' }), {
    description: 'End the phase as aborted (the rollout sets rollout_percentage 0).',
  });
  setHandler(phaseStatusQuery, status, { description: 'State, green clock, evaluations and every decision with its numbers.' });

  upsertSearchAttributes([
    { key: SA.rolloutName, value: input.rollout },
    { key: SA.rolloutPhase, value: n },
  ]);

  if (!c.percentageSet && !c.rolledBack) {
    await applyPercentage();
    c.greenSince = Date.now();
    c.nextEvalAt = Date.now() + interval;
  }
  details();

  /** A reading that is not green starts the window again; a holding phase is then back to monitoring. */
  const restartWindow = (at: number) => {
    c.greenSince = at;
    if (c.state === 'holding') c.state = 'monitoring';
  };

  /** One evaluation of the decision matrix. */
  const evaluate = async () => {
    // The phase's clocks (green since, clear since, last reduction) run on the evaluation schedule,
    // not on when the reading came back, so "a full interval" is exactly one interval of readings.
    const now = Math.min(c.nextEvalAt, Date.now());
    const window: MetricWindow = { start: iso(Math.max(c.startedAt, Date.now() - plan.metric_window_ms))!, end: iso(Date.now())! };
    let r: RolloutReadings;
    try {
      r = await metrics.readRolloutMetrics(window);
    } catch (err) {
      setEvidence({ sufficient: false, insufficient: true, missing: [`no reading: ${(err as Error).message}`], unknown: [] }, now);
      if (c.state === 'monitoring') c.greenSince = now;
      else if (c.state === 'holding') restartWindow(now);
      await record('no_data', `metrics could not be read: ${(err as Error).message}; the green window restarts`, { window });
      return;
    }
    c.evaluations += 1;
    const j = judgeReading(r, t);
    setEvidence({ sufficient: j.evidence, insufficient: j.insufficient, missing: j.gaps, unknown: j.unknown }, now);
    const sufficient = j.sampleSufficient;
    const numbers = { readings: r, window, sample_sufficient: sufficient };
    const rateText = `rollback rate ${pct(r.rollbackRate)} (${r.rollbacks}/${r.speculativeTasks} speculative tasks${sufficient ? '' : `, below the minimum sample ${t.min_sample}: rates not judged`})`;
    const { rateHalt, ratePause, utilisation, queuePause, memoryHigh } = j;

    // Memory is its own action: it applies in any state, at most once per metric window, because the
    // reading looks an hour back and would otherwise take a branch off every interval for one spike.
    if (memoryHigh && (c.lastReduceAt === null || now - c.lastReduceAt >= plan.metric_window_ms)) {
      c.lastReduceAt = now;
      const live = await control.readControlConfig();
      const to = Math.max(1, live.max_parallel_branches - 1);
      if (to < live.max_parallel_branches) {
        const changes = { 'speculation.max_parallel_branches': to };
        await control.applyRolloutConfig(changes);
        await record(
          'reduce_branches',
          `memory growth ${pct(r.memoryGrowthPerHour)}/h > ${pct(t.memory_growth_per_hour)}/h: max_parallel_branches ${live.max_parallel_branches} → ${to}`,
          { ...numbers, changes },
        );
      } else {
        await record(
          'reduce_branches',
          `memory growth ${pct(r.memoryGrowthPerHour)}/h > ${pct(t.memory_growth_per_hour)}/h, but max_parallel_branches is already 1`,
          numbers,
        );
      }
    }

    if (r.p1Alerts.length) {
      const changes = { 'speculation.features.rollout_percentage': input.previousPercentage };
      await control.applyRolloutConfig(changes);
      c.percentageSet = false;
      c.rolledBack = true;
      c.state = 'halted';
      c.greenSince = null;
      await record('rollback_phase', `P1 alert firing (${r.p1Alerts.join(', ')}): rollout_percentage back to ${input.previousPercentage}%; halted`, {
        ...numbers,
        changes,
      });
      return;
    }
    if (rateHalt) {
      c.state = 'halted';
      c.greenSince = null;
      await record('halt', `${rateText} > ${pct(t.halt_rollback_rate)}: halted, investigate`, numbers);
      return;
    }
    if (ratePause || queuePause) {
      const why = [
        ratePause ? `${rateText} in [${pct(t.pause_rollback_rate)}, ${pct(t.halt_rollback_rate)}]` : '',
        queuePause
          ? `proof queue ${r.proofQueueDepth}/${r.proofQueueCapacity} (${pct(utilisation)}) > ${pct(t.proof_queue_utilisation)}: scale proof workers`
          : '',
      ]
        .filter(Boolean)
        .join('; ');
      c.clearSince = null;
      if (c.state === 'monitoring' || c.state === 'holding') {
        c.state = 'paused';
        c.pauseKind = 'metrics';
        c.greenSince = null;
        await record('pause', `${why}: paused, monitoring continues`, numbers);
      } else {
        await record('stay_paused', why, numbers);
      }
      return;
    }
    if (c.state === 'paused') {
      if (c.pauseKind === 'operator') {
        await record('stay_paused', `readings clear (${rateText}), paused by an operator: waiting for resume or approve`, numbers);
      } else if (c.clearSince === null) {
        c.clearSince = now;
        await record('stay_paused', `readings clear (${rateText}); resumes if still clear after a full interval`, numbers);
      } else if (now - c.clearSince >= interval) {
        c.state = 'monitoring';
        c.pauseKind = null;
        c.clearSince = null;
        c.greenSince = now;
        await record('auto_resume', `readings clear for a full interval (${rateText}): monitoring resumes, the green window restarts`, numbers);
      } else {
        await record('stay_paused', `readings clear (${rateText}) since ${iso(c.clearSince)}`, numbers);
      }
      return;
    }
    if (memoryHigh) {
      // Not green: the branches were just reduced (or could not be); the window restarts.
      restartWindow(now);
      if (c.lastReduceAt !== now)
        await record(
          'continue',
          `memory growth ${pct(r.memoryGrowthPerHour)}/h still high (branches reduced at ${iso(c.lastReduceAt)}); the green window restarts`,
          numbers,
        );
      return;
    }
    if (evidenceRule && j.insufficient) {
      await record(
        'insufficient_evidence',
        `insufficient evidence: ${j.gaps.join('; ')}; ${rateText}, proof queue ${pct(utilisation)}: not green, ${
          c.state === 'holding' ? `still holding at ${p.percentage}%` : 'the green window goes on but the phase proceeds only on evidence'
        }`,
        numbers,
      );
      return;
    }
    await record('continue', `green: ${rateText}, proof queue ${pct(utilisation)}, memory ${pct(r.memoryGrowthPerHour)}/h, no P1 alert`, numbers);
  };

  let evaluationsThisRun = 0;
  const maxPerRun = input.maxEvaluationsPerRun ?? DEFAULT_MAX_EVALUATIONS_PER_RUN;
  for (;;) {
    if (orphaned) return end('orphaned', `the rollout ${rolloutWorkflowId(input.rollout)} no longer exists`);
    if (abortReq) {
      await record('operator_abort', abortReq.reason);
      return end('aborted', abortReq.reason);
    }
    if (approveReq) {
      approveReq = false;
      // Approving the last phase after a P1 roll-back ends the rollout at the full percentage.
      if (isLast && !c.percentageSet) await applyPercentage();
      await record('operator_approve', `approved in state ${c.state}: proceeding`);
      return end('approved', 'approved by an operator');
    }
    if (pauseReq) {
      pauseReq = false;
      if (c.state === 'monitoring' || c.state === 'paused' || c.state === 'holding') {
        c.state = 'paused';
        c.pauseKind = 'operator';
        c.greenSince = null;
        c.clearSince = null;
        await record('operator_pause', 'paused by an operator');
      }
    }
    if (resumeReq) {
      resumeReq = false;
      if (c.state === 'paused' || c.state === 'halted') {
        const was = c.state;
        if (!c.percentageSet) await applyPercentage();
        c.state = 'monitoring';
        c.pauseKind = null;
        c.clearSince = null;
        c.greenSince = Date.now();
        if (c.nextEvalAt <= Date.now()) c.nextEvalAt = Date.now() + interval;
        await record('operator_resume', `resumed from ${was}: monitoring restarts, the green window restarts`);
      }
    }
    if (!evidenceRule) {
      if (c.state === 'monitoring' && p.duration_ms !== null && c.greenSince !== null && Date.now() - c.greenSince >= p.duration_ms) {
        await record('proceed', `green for the whole ${p.duration} window since ${iso(c.greenSince)}: proceeding`);
        return end('completed', `green for ${p.duration}`);
      }
    } else if (c.state === 'monitoring' || c.state === 'holding') {
      const verdict = windowVerdict({
        durationMs: p.duration_ms,
        greenForMs: c.greenSince === null ? null : Date.now() - c.greenSince,
        lastReadingIsEvidence: c.evidence?.sufficient,
      });
      if (verdict === 'proceed') {
        await record(
          'proceed',
          c.state === 'holding'
            ? `evidence at last (a green reading on a full sample, every signal observed) after holding since the ${p.duration} window ended: proceeding`
            : `green for the whole ${p.duration} window since ${iso(c.greenSince)}, ending on a full sample: proceeding`,
        );
        return end('completed', `green for ${p.duration}, with evidence`);
      }
      if (verdict === 'hold' && c.state === 'monitoring') {
        c.state = 'holding';
        const missing = !c.evidence ? 'no reading yet' : c.evidence.missing.length ? c.evidence.missing.join('; ') : 'the latest reading was not green';
        await record(
          'hold',
          `the ${p.duration} window since ${iso(c.greenSince)} is over without a problem, but on insufficient evidence: ${missing}; ` +
            `holding at ${p.percentage}% until a green reading on at least ${t.min_sample} speculative tasks with every signal observed (approve proceeds anyway, abort stops)`,
        );
      }
    }
    if (evaluationsThisRun >= maxPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      if (!pauseReq && !resumeReq && !approveReq && !abortReq) {
        await continueAsNew<typeof rolloutPhase>({ ...input, carried: c });
      }
      continue;
    }

    const operator = () => pauseReq || resumeReq || approveReq || Boolean(abortReq);
    if (c.state === 'halted') {
      details();
      await condition(operator);
      continue;
    }
    let deadline = c.nextEvalAt;
    if (c.state === 'monitoring' && p.duration_ms !== null && c.greenSince !== null) deadline = Math.min(deadline, c.greenSince + p.duration_ms);
    details();
    const signalled = await condition(operator, Math.max(1, deadline - Date.now()));
    if (signalled) continue;
    if (Date.now() >= c.nextEvalAt) {
      await evaluate();
      evaluationsThisRun += 1;
      c.nextEvalAt = Math.max(c.nextEvalAt + interval, Date.now() + 1);
    }
  }
}
