/**
 * What the rollout (`rollout`, workflows/rollout.ts) decides about its own state, as pure functions:
 * its phases before they start, its state from the current phase's, what it waits for, its Current
 * Details line, and a phase's status as the phase reports it (a decision by signal, the final status
 * with its result). A phase's own decisions are workflows/rollout-decisions.ts. Tests:
 * test/rollout/rollout-progress.test.ts.
 *
 * Imported by workflow code: no Node built-ins, no clock.
 */
import {
  type Decision,
  MAX_DECISIONS_KEPT,
  type PhaseStatus,
  type RolloutPlan,
  type RolloutState,
} from '../shared/rollout-model';

/** The part of the rollout's state these functions read. */
export interface RolloutView {
  state: RolloutState;
  /** The phase started last (n from 1; it may have ended since), null before the first. */
  current: number | null;
  phases: PhaseStatus[];
  /** Paused with no running phase to forward the pause to: the next phase waits for resume, approve or abort. */
  pausedBetween: boolean;
}

const ended = (state: RolloutState) => state === 'completed' || state === 'aborted';

/** Every phase of the plan, none started yet. */
export function pendingPhases(plan: RolloutPlan): PhaseStatus[] {
  return plan.phases.map((p, i) => ({
    phase: i + 1,
    name: p.name,
    percentage: p.percentage,
    duration: p.duration,
    state: 'pending',
    started_at: null,
    ended_at: null,
    green_since: null,
    evaluations: 0,
    decisions: [],
    decisions_dropped: 0,
    decision_counts: {},
    waiting_for: null,
  }));
}

export function currentPhase(view: RolloutView): PhaseStatus | undefined {
  return view.current ? view.phases[view.current - 1] : undefined;
}

/** The rollout's state follows its current phase's (halted, paused, holding) until it has ended. */
export function rolloutState(view: RolloutView): RolloutState {
  if (ended(view.state)) return view.state;
  const phase = currentPhase(view);
  if (phase?.state === 'halted') return 'halted';
  if (phase?.state === 'paused' || view.pausedBetween) return 'paused';
  if (phase?.state === 'holding') return 'holding';
  return 'running';
}

export function rolloutWaitingFor(view: RolloutView): string | null {
  if (ended(view.state)) return null;
  if (view.current === null) return view.pausedBetween ? 'resume or approve to start the next phase' : null;
  return view.phases[view.current - 1]!.waiting_for ?? `phase ${view.current}`;
}

/** The Current Details line (Markdown). A phase that lacks evidence says what it lacks: "running" alone would read as green. */
export function rolloutDetails(view: RolloutView): string {
  const phase = currentPhase(view);
  const waiting = rolloutWaitingFor(view);
  const lacking =
    phase?.evidence?.insufficient && !phase.ended_at
      ? ` — insufficient evidence: ${phase.evidence.missing.join('; ')}`
      : '';
  const current = phase
    ? ` — phase ${phase.phase}/${view.phases.length} ${phase.name} (${phase.percentage}%): ${phase.state}${lacking}`
    : '';
  return `**${view.state}**${current}${waiting ? ` — waiting for ${waiting}` : ''}`;
}

/**
 * A phase's status after it reports a decision: its status then (sent without decisions), with the
 * decision added to the ones kept (the last MAX_DECISIONS_KEPT; the rest counted as dropped).
 */
export function phaseAfterDecision(phase: PhaseStatus, decision: Decision, reported: PhaseStatus): PhaseStatus {
  const kept: Decision[] = [...phase.decisions, decision];
  const dropped = Math.max(0, kept.length - MAX_DECISIONS_KEPT);
  return { ...reported, decisions: kept.slice(dropped), decisions_dropped: phase.decisions_dropped + dropped };
}

/** A phase's status after it ends: its final status, with the decisions it reported one by one (the result carries none). */
export function phaseAfterResult(phase: PhaseStatus, final: PhaseStatus): PhaseStatus {
  return { ...final, decisions: phase.decisions, decisions_dropped: phase.decisions_dropped };
}
