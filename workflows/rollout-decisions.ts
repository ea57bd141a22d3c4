/**
 * What a rollout phase (`rolloutPhase`, workflows/rollout-phase.ts) decides, as pure functions of its
 * state: the decision matrix on one reading and the end of its green window (an operator's requests are
 * in rollout-requests.ts, what it reports and waits for in rollout-reports.ts). A decision is a
 * `PhaseStep` (action, reason, config `changes`, the state after it); the workflow carries it out in
 * one order (changes, state, record) and does the I/O. Tests: test/rollout/rollout-decisions.test.ts.
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
 * Imported by workflow code: no Node built-ins, no clock of its own (`nowMs` is passed in).
 */
import {
  type DecisionAction,
  judgeReading,
  type PhaseCarry,
  type PhaseOutcome,
  type PhasePlan,
  type PhaseState,
  type ReadingJudgement,
  type RolloutPlan,
  type RolloutReadings,
  type RolloutThresholds,
  windowVerdict,
} from '../shared/rollout-model';

/** What a phase's decisions read of its state: the part of `PhaseCarry` the matrix works on. */
export type PhaseView = Pick<
  PhaseCarry,
  | 'state'
  | 'greenSince'
  | 'clearSince'
  | 'pauseKind'
  | 'lastReduceAt'
  | 'percentageSet'
  | 'rolledBack'
  | 'nextEvalAt'
  | 'evidence'
>;

/** What a decision changes in the phase's state. */
export type PhaseChange = Partial<
  Pick<PhaseCarry, 'state' | 'greenSince' | 'clearSince' | 'pauseKind' | 'percentageSet' | 'rolledBack' | 'nextEvalAt'>
>;

/** What one phase's decisions need from the plan, fixed for a run (`phaseSettings`). */
export interface PhaseSettings {
  /** 1-based. */
  phase: number;
  isLast: boolean;
  /** This phase's rollout_percentage, and the one a P1 alert rolls back to (the phase before's, 0 for the first). */
  percentage: number;
  previousPercentage: number;
  /** Green time needed to proceed (null: "ongoing"), and as the plan wrote it ("24h"). */
  durationMs: number | null;
  duration: string;
  intervalMs: number;
  metricWindowMs: number;
  thresholds: RolloutThresholds;
  /** The evidence rule (patch `rollout-evidence`); false for a run started before it (below the sample counts as green). */
  evidenceRule: boolean;
}

/** One decision: what to record, the config changes to make first, and the state after it. */
export interface PhaseStep {
  /** What is recorded (and reported to the rollout); null when there is nothing new to say. */
  action: DecisionAction | null;
  reason: string;
  /** Config changes made through the control workflow before it is recorded (and recorded with it). */
  changes?: Record<string, unknown>;
  /** The phase state after it. */
  next: PhaseChange;
  /** The phase ends with it. */
  end?: { outcome: PhaseOutcome; reason: string };
}

/** Whether a decision is signalled to the rollout (`rolloutReport`). */
export type RolloutReport = { send: boolean; quiet?: Pick<PhaseCarry, 'lastQuietReportAt' | 'lastQuietAction'> };

/** A step that ends the phase. */
export type EndingStep = PhaseStep & { end: NonNullable<PhaseStep['end']> };

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function phaseSettings(
  plan: RolloutPlan,
  phasePlan: PhasePlan,
  o: { phase: number; previousPercentage: number; evidenceRule: boolean },
): PhaseSettings {
  return {
    phase: o.phase,
    isLast: o.phase === plan.phases.length,
    percentage: phasePlan.percentage,
    previousPercentage: o.previousPercentage,
    durationMs: phasePlan.duration_ms,
    duration: phasePlan.duration,
    intervalMs: plan.evaluation_interval_ms,
    metricWindowMs: plan.metric_window_ms,
    thresholds: plan.thresholds,
    evidenceRule: o.evidenceRule,
  };
}

/** A new phase's state (a continued run carries its own). */
export function newPhaseCarry(nowMs: number): PhaseCarry {
  return {
    startedAt: nowMs,
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
}

/** The phase's state once it has ended with `outcome`. */
export function endState(outcome: PhaseOutcome): PhaseState {
  return outcome === 'orphaned' ? 'failed' : outcome;
}

/** Set the phase's percentage (and, for the first phase, enable speculation): at its start, and after a P1 roll-back. */
export function setPercentage(settings: Pick<PhaseSettings, 'phase' | 'percentage'>): PhaseStep {
  const first = settings.phase === 1;
  const changes: Record<string, unknown> = { 'speculation.features.rollout_percentage': settings.percentage };
  if (first) changes['speculation.enabled'] = true;
  return {
    action: 'percentage_set',
    reason: `rollout_percentage ${settings.percentage}%${first ? ', speculation enabled' : ''}`,
    changes,
    next: { percentageSet: true, rolledBack: false },
  };
}

/** A reading that is not green starts the window again; a holding phase is then back to monitoring. */
function restartWindow(phase: PhaseView, atMs: number): PhaseChange {
  return phase.state === 'holding' ? { greenSince: atMs, state: 'monitoring' } : { greenSince: atMs };
}

/** The metric source could not be read: not green (the window restarts), nothing else changes. */
export function decideNoData(message: string, phase: PhaseView, nowMs: number): PhaseStep {
  return {
    action: 'no_data',
    reason: `metrics could not be read: ${message}; the green window restarts`,
    next: phase.state === 'monitoring' || phase.state === 'holding' ? restartWindow(phase, nowMs) : {},
  };
}

/**
 * Memory is its own action, in any state, at most once per metric window (the reading looks an hour
 * back: one spike would otherwise take a branch off every interval). When due, the workflow sets
 * `lastReduceAt`, reads the live max_parallel_branches and applies `decideBranchReduction` first.
 */
export function branchReductionDue(
  judgement: ReadingJudgement,
  phase: PhaseView,
  nowMs: number,
  settings: PhaseSettings,
): boolean {
  return judgement.memoryHigh && (phase.lastReduceAt === null || nowMs - phase.lastReduceAt >= settings.metricWindowMs);
}

/** One branch fewer than the live max_parallel_branches, never below 1. */
export function decideBranchReduction(
  readings: RolloutReadings,
  thresholds: RolloutThresholds,
  liveBranches: number,
): PhaseStep {
  const to = Math.max(1, liveBranches - 1);
  const growth = `memory growth ${pct(readings.memoryGrowthPerHour)}/h > ${pct(thresholds.memory_growth_per_hour)}/h`;
  if (to < liveBranches) {
    return {
      action: 'reduce_branches',
      reason: `${growth}: max_parallel_branches ${liveBranches} → ${to}`,
      changes: { 'speculation.max_parallel_branches': to },
      next: {},
    };
  }
  return { action: 'reduce_branches', reason: `${growth}, but max_parallel_branches is already 1`, next: {} };
}

function rateText(readings: RolloutReadings, judgement: ReadingJudgement, thresholds: RolloutThresholds): string {
  const below = judgement.sampleSufficient
    ? ''
    : `, below the minimum sample ${thresholds.min_sample}: rates not judged`;
  return `rollback rate ${pct(readings.rollbackRate)} (${readings.rollbacks}/${readings.speculativeTasks} speculative tasks${below})`;
}

/**
 * The decision matrix on one reading (after the memory step, whose `lastReduceAt` it sees), in its
 * order: a P1 alert, a rollback rate to halt on, one to pause on or a full proof queue, a paused phase
 * whose readings are clear, high memory, insufficient evidence, green.
 */
export function decideReading(
  readings: RolloutReadings,
  phase: PhaseView,
  nowMs: number,
  settings: PhaseSettings,
  judgement: ReadingJudgement = judgeReading(readings, settings.thresholds),
): PhaseStep {
  const thresholds = settings.thresholds;
  const rates = rateText(readings, judgement, thresholds);
  if (judgement.p1) {
    return {
      action: 'rollback_phase',
      reason: `P1 alert firing (${readings.p1Alerts.join(', ')}): rollout_percentage back to ${settings.previousPercentage}%; halted`,
      changes: { 'speculation.features.rollout_percentage': settings.previousPercentage },
      next: { percentageSet: false, rolledBack: true, state: 'halted', greenSince: null },
    };
  }
  if (judgement.rateHalt) {
    return {
      action: 'halt',
      reason: `${rates} > ${pct(thresholds.halt_rollback_rate)}: halted, investigate`,
      next: { state: 'halted', greenSince: null },
    };
  }
  if (judgement.ratePause || judgement.queuePause) return decidePause(readings, judgement, rates, phase, thresholds);
  if (phase.state === 'paused') return decideWhilePaused(rates, phase, nowMs, settings.intervalMs);
  if (judgement.memoryHigh) {
    // Not green: the branches were just reduced (or could not be); the window restarts.
    const reducedNow = phase.lastReduceAt === nowMs;
    return {
      action: reducedNow ? null : 'continue',
      reason: reducedNow
        ? 'memory growth high: the branches were reduced at this reading (recorded); the green window restarts'
        : `memory growth ${pct(readings.memoryGrowthPerHour)}/h still high (branches reduced at ${iso(phase.lastReduceAt)}); the green window restarts`,
      next: restartWindow(phase, nowMs),
    };
  }
  const queue = `proof queue ${pct(judgement.utilisation)}`;
  if (settings.evidenceRule && judgement.insufficient) {
    const goesOn =
      phase.state === 'holding'
        ? `still holding at ${settings.percentage}%`
        : 'the green window goes on but the phase proceeds only on evidence';
    return {
      action: 'insufficient_evidence',
      reason: `insufficient evidence: ${judgement.gaps.join('; ')}; ${rates}, ${queue}: not green, ${goesOn}`,
      next: {},
    };
  }
  return {
    action: 'continue',
    reason: `green: ${rates}, ${queue}, memory ${pct(readings.memoryGrowthPerHour)}/h, no P1 alert`,
    next: {},
  };
}

/** A rollback rate in the pause band, or a proof queue over its threshold: pause (or stay paused), and the clear clock stops. */
function decidePause(
  readings: RolloutReadings,
  judgement: ReadingJudgement,
  rates: string,
  phase: PhaseView,
  thresholds: RolloutThresholds,
): PhaseStep {
  const why = [
    judgement.ratePause
      ? `${rates} in [${pct(thresholds.pause_rollback_rate)}, ${pct(thresholds.halt_rollback_rate)}]`
      : '',
    judgement.queuePause
      ? `proof queue ${readings.proofQueueDepth}/${readings.proofQueueCapacity} (${pct(judgement.utilisation)}) > ${pct(thresholds.proof_queue_utilisation)}: scale proof workers`
      : '',
  ]
    .filter(Boolean)
    .join('; ');
  if (phase.state === 'monitoring' || phase.state === 'holding') {
    return {
      action: 'pause',
      reason: `${why}: paused, monitoring continues`,
      next: { clearSince: null, state: 'paused', pauseKind: 'metrics', greenSince: null },
    };
  }
  return { action: 'stay_paused', reason: why, next: { clearSince: null } };
}

/** Paused, on a clear reading: an operator's pause waits for the operator; a metrics pause resumes once clear for a full interval. */
function decideWhilePaused(rates: string, phase: PhaseView, nowMs: number, intervalMs: number): PhaseStep {
  if (phase.pauseKind === 'operator') {
    return {
      action: 'stay_paused',
      reason: `readings clear (${rates}), paused by an operator: waiting for resume or approve`,
      next: {},
    };
  }
  if (phase.clearSince === null) {
    return {
      action: 'stay_paused',
      reason: `readings clear (${rates}); resumes if still clear after a full interval`,
      next: { clearSince: nowMs },
    };
  }
  if (nowMs - phase.clearSince >= intervalMs) {
    return {
      action: 'auto_resume',
      reason: `readings clear for a full interval (${rates}): monitoring resumes, the green window restarts`,
      next: { state: 'monitoring', pauseKind: null, clearSince: null, greenSince: nowMs },
    };
  }
  return { action: 'stay_paused', reason: `readings clear (${rates}) since ${iso(phase.clearSince)}`, next: {} };
}

/** The end of the green window, checked before each wait: proceed (the phase ends), hold (keep the percentage, evaluate on), or null. */
export function decideWindow(phase: PhaseView, nowMs: number, settings: PhaseSettings): PhaseStep | null {
  const { durationMs, duration } = settings;
  if (!settings.evidenceRule) {
    if (
      phase.state === 'monitoring' &&
      durationMs !== null &&
      phase.greenSince !== null &&
      nowMs - phase.greenSince >= durationMs
    ) {
      const reason = `green for the whole ${duration} window since ${iso(phase.greenSince)}: proceeding`;
      return { action: 'proceed', reason, next: {}, end: { outcome: 'completed', reason: `green for ${duration}` } };
    }
    return null;
  }
  if (phase.state !== 'monitoring' && phase.state !== 'holding') return null;
  const verdict = windowVerdict({
    durationMs,
    greenForMs: phase.greenSince === null ? null : nowMs - phase.greenSince,
    lastReadingIsEvidence: phase.evidence?.sufficient,
  });
  if (verdict === 'proceed') {
    const reason =
      phase.state === 'holding'
        ? `evidence at last (a green reading on a full sample, every signal observed) after holding since the ${duration} window ended: proceeding`
        : `green for the whole ${duration} window since ${iso(phase.greenSince)}, ending on a full sample: proceeding`;
    return {
      action: 'proceed',
      reason,
      next: {},
      end: { outcome: 'completed', reason: `green for ${duration}, with evidence` },
    };
  }
  if (verdict === 'hold' && phase.state === 'monitoring') {
    const evidence = phase.evidence;
    const missing = !evidence
      ? 'no reading yet'
      : evidence.missing.length
        ? evidence.missing.join('; ')
        : 'the latest reading was not green';
    const reason =
      `the ${duration} window since ${iso(phase.greenSince)} is over without a problem, but on insufficient evidence: ${missing}; ` +
      `holding at ${settings.percentage}% until a green reading on at least ${settings.thresholds.min_sample} speculative tasks with every signal observed (approve proceeds anyway, abort stops)`;
    return { action: 'hold', reason, next: { state: 'holding' } };
  }
  return null;
}
