/**
 * An operator's requests to a rollout phase, as pure steps: acted on in this order, abort, approve,
 * pause, resume (rollout-phase.ts carries them out).
 */
import type { EndingStep, PhaseChange, PhaseSettings, PhaseStep, PhaseView } from './rollout-decisions';

export function operatorAbort(reason: string): EndingStep {
  return { action: 'operator_abort', reason, next: {}, end: { outcome: 'aborted', reason } };
}

/**
 * Whether approve or resume first sets the percentage a P1 alert rolled back again (`setPercentage`):
 * resume does; approve only on the last phase, so the rollout ends at its full percentage.
 */
export function reappliesPercentage(
  request: 'approve' | 'resume',
  phase: PhaseView,
  settings: Pick<PhaseSettings, 'isLast'>,
): boolean {
  if (phase.percentageSet) return false;
  return request === 'resume' ? resumes(phase) : settings.isLast;
}

/** Approve proceeds from any state (after `reappliesPercentage`). */
export function operatorApprove(phase: PhaseView): EndingStep {
  return {
    action: 'operator_approve',
    reason: `approved in state ${phase.state}: proceeding`,
    next: {},
    end: { outcome: 'approved', reason: 'approved by an operator' },
  };
}

/** Pause stops the green clock (evaluation goes on); a halted phase stays halted. */
export function operatorPause(phase: PhaseView): PhaseStep | null {
  if (phase.state !== 'monitoring' && phase.state !== 'paused' && phase.state !== 'holding') return null;
  return {
    action: 'operator_pause',
    reason: 'paused by an operator',
    next: { state: 'paused', pauseKind: 'operator', greenSince: null, clearSince: null },
  };
}

/** Whether resume does anything: only from a pause or a halt. */
export function resumes(phase: PhaseView): boolean {
  return phase.state === 'paused' || phase.state === 'halted';
}

/** Resume from a pause or halt (else null): monitoring and the window restart at `nowMs` (after `reappliesPercentage`'s step). */
export function operatorResume(
  phase: PhaseView,
  nowMs: number,
  settings: Pick<PhaseSettings, 'intervalMs'>,
): PhaseStep | null {
  if (!resumes(phase)) return null;
  const next: PhaseChange = { state: 'monitoring', pauseKind: null, clearSince: null, greenSince: nowMs };
  if (phase.nextEvalAt <= nowMs) next.nextEvalAt = nowMs + settings.intervalMs;
  return {
    action: 'operator_resume',
    reason: `resumed from ${phase.state}: monitoring restarts, the green window restarts`,
    next,
  };
}
