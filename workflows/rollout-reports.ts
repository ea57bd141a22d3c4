/** What a rollout phase waits for, when it wakes by itself, and which decisions it reports to its rollout. */
import type { DecisionAction, PhaseCarry } from '../shared/rollout-model';
import { iso, type PhaseSettings, type PhaseView, type RolloutReport } from './rollout-decisions';

/** When the phase next wakes by itself: its next evaluation, or the end of its green window if sooner. */
export function nextWakeAt(phase: PhaseView, settings: Pick<PhaseSettings, 'durationMs'>): number {
  if (phase.state === 'monitoring' && settings.durationMs !== null && phase.greenSince !== null) {
    return Math.min(phase.nextEvalAt, phase.greenSince + settings.durationMs);
  }
  return phase.nextEvalAt;
}

/**
 * Whether a decision is signalled to the rollout: an ongoing or holding phase reports unchanged quiet
 * readings at most once per metric window (its status and log keep all), so the rollout's history stays
 * bounded for months. `quiet` is what the phase then remembers of the report.
 */
export function rolloutReport(
  action: DecisionAction,
  phase: PhaseCarry,
  nowMs: number,
  settings: PhaseSettings,
): RolloutReport {
  const quiet = action === 'continue' || (settings.evidenceRule && action === 'insufficient_evidence');
  if (!quiet || (settings.durationMs !== null && phase.state !== 'holding')) return { send: true };
  const same = (phase.lastQuietAction ?? 'continue') === action;
  if (same && phase.lastQuietReportAt !== undefined && nowMs - phase.lastQuietReportAt < settings.metricWindowMs)
    return { send: false };
  return { send: true, quiet: { lastQuietReportAt: nowMs, lastQuietAction: action } };
}

/** What the phase is waiting for (its status and details), null once it has ended. */
export function waitingFor(phase: PhaseView, nowMs: number, settings: PhaseSettings, ended: boolean): string | null {
  if (ended) return null;
  if (!phase.nextEvalAt) return "the control workflow to take this phase's percentage";
  const next = `next evaluation ${iso(phase.nextEvalAt)}`;
  switch (phase.state) {
    case 'monitoring':
      return settings.durationMs === null
        ? `ongoing: ${next}; runs until abort (or approve to end the rollout)`
        : `green until ${iso((phase.greenSince ?? nowMs) + settings.durationMs)} to proceed (${next})`;
    case 'holding':
      return `evidence to proceed: a green reading on at least ${settings.thresholds.min_sample} speculative tasks with every signal observed (${next}); or approve (proceed anyway) or abort`;
    case 'paused':
      return phase.pauseKind === 'metrics'
        ? `readings to be clear for a full interval (${Math.round(settings.intervalMs / 60_000)} min; ${next}), or resume / approve`
        : 'an operator: resume or approve';
    case 'halted':
      return `an operator: approve (proceed), resume (retry this phase${phase.rolledBack ? ' at its percentage' : ''}) or abort`;
    default:
      return null;
  }
}
