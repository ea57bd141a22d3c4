/**
 * `rollout`: the runbook's feature-flag rollout (`rollout-<name>`). Runs the plan's phases in order
 * as child workflows `rollout-<name>-phase-<n>` (n from 1); each phase sets its percentage and
 * applies the decision matrix (workflows/rollout-phase.ts).
 *
 * Signals `pause`, `resume`, `approve`, `abort` (same names on each phase); the rollout forwards them
 * to the running phase, and acts on them itself between phases. `abort` stops the phase and sets
 * rollout_percentage to 0 through the control workflow. The `status` query returns every phase with
 * its state and every decision with the numbers behind it (reported by the phases by signal).
 *
 * A phase that holds for lack of evidence makes the rollout `holding` (not `running`): its details
 * and status say what the evidence lacks (workflows/rollout-phase.ts).
 *
 * History: the rollout's own history grows by a few events per decision its phases report. Finite
 * phases report every decision (the default plan: about 1,900 over 13 days, some 8k events) except
 * while holding. The "ongoing" last phase, and a holding one, report every decision that changes
 * something, and their unchanged quiet readings at most once per metric window (hourly by
 * default), so a year of quiet monitoring adds about 35k events, under Temporal's 50k limit; each
 * phase continues as new on its own, so its history stays bounded however long it runs. The rollout
 * itself does not continue as new: it awaits each phase as a child (the Java test server, for one,
 * mishandles a child that outlives its parent's run), and an ongoing rollout is meant to be ended
 * by approve or abort.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  type Decision,
  MAX_DECISIONS_KEPT,
  type PhaseResult,
  type PhaseStatus,
  phaseWorkflowId,
  planSummary,
  type RolloutActivities,
  type RolloutPlan,
  type RolloutState,
  type RolloutStatus,
} from '../shared/rollout-model';
import { SA } from '../shared/search-attributes';
import { rolloutPhase } from './rollout-phase';
import { phaseDecisionSignal, rolloutAbortSignal, rolloutApproveSignal, rolloutPauseSignal, rolloutResumeSignal, rolloutStatusQuery } from '../shared/messages';

// Re-exported so the bundle's entry point registers both with one line.
export { rolloutPhase };

const control = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
});

export interface RolloutInput {
  name: string;
  plan: RolloutPlan;
  /** Passed to each phase (tests use it to exercise the phase's continue-as-new). */
  phaseMaxEvaluationsPerRun?: number;
}

interface RolloutProgress {
  startedAt: string;
  state: RolloutState;
  current: number | null;
  phases: PhaseStatus[];
  results: Record<number, PhaseResult['outcome'] | 'failed'>;
  abortReason: string | null;
  pausedBetween: boolean;
}

export async function rollout(input: RolloutInput): Promise<RolloutStatus> {
  const { name, plan } = input;
  // A bad input fails the workflow at once instead of retrying its task (clients validate plans first).
  if (!plan?.phases?.length) throw ApplicationFailure.nonRetryable('the rollout plan has no phases', 'InvalidRolloutPlan');
  const summary = planSummary(name, plan);
  const c: RolloutProgress = {
    startedAt: new Date().toISOString(),
    state: 'running',
    current: null,
    phases: plan.phases.map((p, i) => ({
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
    })),
    results: {},
    abortReason: null,
    pausedBetween: false,
  };
  let endedAt: string | null = null;
  let approveReq = false;
  let abortReq: { reason: string } | undefined;
  // Set by a signal handler: read through a function so TypeScript does not narrow it across awaits.
  const abortReason = (): string | undefined => abortReq?.reason;

  const phaseOf = (n: number) => c.phases[n - 1]!;
  const waitingFor = (): string | null => {
    if (c.state === 'completed' || c.state === 'aborted') return null;
    if (c.current === null) return c.pausedBetween ? 'resume or approve to start the next phase' : null;
    return phaseOf(c.current).waiting_for ?? `phase ${c.current}`;
  };
  const status = (): RolloutStatus => ({
    name,
    state: c.state,
    summary,
    current_phase: c.current,
    phases: c.phases,
    plan,
    started_at: c.startedAt,
    ended_at: endedAt,
    abort_reason: c.abortReason,
    waiting_for: waitingFor(),
  });
  const details = () => {
    const cur = c.current ? phaseOf(c.current) : undefined;
    const w = waitingFor();
    // A phase that lacks evidence says what it lacks here too: "running" alone would read as green.
    const lacking = cur?.evidence?.insufficient && !cur.ended_at ? ` — insufficient evidence: ${cur.evidence.missing.join('; ')}` : '';
    setCurrentDetails(
      `**${c.state}**${cur ? ` — phase ${cur.phase}/${plan.phases.length} ${cur.name} (${cur.percentage}%): ${cur.state}${lacking}` : ''}${w ? ` — waiting for ${w}` : ''}`,
    );
  };
  const deriveState = () => {
    if (c.state === 'completed' || c.state === 'aborted') return;
    const cur = c.current ? phaseOf(c.current) : undefined;
    c.state = cur?.state === 'halted' ? 'halted' : cur?.state === 'paused' || c.pausedBetween ? 'paused' : cur?.state === 'holding' ? 'holding' : 'running';
  };

  const forward = async (what: 'pause' | 'resume' | 'approve' | 'abort', reason?: string) => {
    if (c.current === null || c.results[c.current] !== undefined) return false;
    const h = getExternalWorkflowHandle(phaseWorkflowId(name, c.current));
    try {
      if (what === 'pause') await h.signal(rolloutPauseSignal);
      else if (what === 'resume') await h.signal(rolloutResumeSignal);
      else if (what === 'approve') await h.signal(rolloutApproveSignal);
      else await h.signal(rolloutAbortSignal, { reason });
      return true;
    } catch (err) {
      log.warn(`could not forward ${what} to phase ${c.current}`, { error: (err as Error).message });
      return false;
    }
  };

  setHandler(
    rolloutPauseSignal,
    async () => {
      if (!(await forward('pause'))) c.pausedBetween = true;
      deriveState();
      details();
    },
    { description: 'Pause: the current phase stops its green clock (monitoring goes on); no next phase starts until resume or approve.' },
  );
  setHandler(
    rolloutResumeSignal,
    async () => {
      c.pausedBetween = false;
      await forward('resume');
      deriveState();
      details();
    },
    { description: 'Resume from a pause or halt.' },
  );
  setHandler(
    rolloutApproveSignal,
    async () => {
      if (!(await forward('approve'))) approveReq = true;
      c.pausedBetween = false;
    },
    { description: "Skip the rest of the current phase's window and proceed; or proceed from a halted or paused state." },
  );
  setHandler(
    rolloutAbortSignal,
    async (arg) => {
      abortReq = { reason: arg?.reason ?? 'aborted by an operator' };
      // The running phase stops now; the main loop then sets rollout_percentage 0.
      await forward('abort', abortReq.reason);
    },
    { description: 'Stop: rollout_percentage 0 through the control workflow; the rollout ends as aborted.' },
  );
  setHandler(
    phaseDecisionSignal,
    ({ decision, status: s }) => {
      const ph = phaseOf(decision.phase);
      const kept: Decision[] = [...ph.decisions, decision];
      const dropped = Math.max(0, kept.length - MAX_DECISIONS_KEPT);
      Object.assign(ph, s, { decisions: kept.slice(dropped), decisions_dropped: ph.decisions_dropped + dropped });
      deriveState();
      details();
    },
    { description: 'A phase reports a decision (with its numbers).' },
  );
  setHandler(rolloutStatusQuery, status, { description: 'Phases with their state, the current phase, every decision with its numbers.' });

  upsertSearchAttributes([{ key: SA.rolloutName, value: name }]);

  let running: Promise<PhaseResult> | undefined;
  const finishAborted = async (reason: string) => {
    const cur = c.current;
    if (cur !== null && c.results[cur] === undefined && running) {
      await forward('abort', reason);
      // The phase stops at its next step; it never waits long (no activity runs for more than a minute).
      await Promise.race([running.catch(() => undefined), sleep('2 minutes')]);
    }
    await control.applyRolloutConfig({ 'speculation.features.rollout_percentage': 0 });
    await control.recordRolloutPhase({ rollout: name, phase: 0 });
    c.state = 'aborted';
    c.abortReason = reason;
    endedAt = new Date().toISOString();
    log.warn(`rollout ${name} aborted: ${reason}; rollout_percentage set to 0`);
    details();
    await condition(allHandlersFinished);
    return status();
  };

  details();
  for (let n = 1; n <= plan.phases.length; n++) {
    if (abortReason() !== undefined) return finishAborted(abortReason()!);
    if (c.pausedBetween) {
      details();
      await condition(() => !c.pausedBetween || approveReq || abortReason() !== undefined);
      c.pausedBetween = false;
      if (abortReason() !== undefined) return finishAborted(abortReason()!);
    }
    approveReq = false;
    c.current = n;
    const p = plan.phases[n - 1]!;
    Object.assign(phaseOf(n), { state: 'monitoring', started_at: new Date().toISOString() });
    upsertSearchAttributes([{ key: SA.rolloutPhase, value: n }]);
    await control.recordRolloutPhase({ rollout: name, phase: n });
    const child = await startChild(rolloutPhase, {
      workflowId: phaseWorkflowId(name, n),
      args: [
        {
          rollout: name,
          phase: n,
          plan,
          previousPercentage: n > 1 ? plan.phases[n - 2]!.percentage : 0,
          ...(input.phaseMaxEvaluationsPerRun ? { maxEvaluationsPerRun: input.phaseMaxEvaluationsPerRun } : {}),
        },
      ],
      staticSummary: `rollout ${name} phase ${n}/${plan.phases.length}: ${p.name} ${p.percentage}% for ${p.duration}`,
      staticDetails: `Sets rollout_percentage ${p.percentage}% and evaluates the decision matrix every ${Math.round(plan.evaluation_interval_ms / 60_000)} min. ${p.success_criteria ? `Success criteria: ${p.success_criteria}.` : ''}`,
      typedSearchAttributes: [
        { key: SA.rolloutName, value: name },
        { key: SA.rolloutPhase, value: n },
      ],
    });
    log.info(`rollout ${name}: phase ${n} started (${p.name}, ${p.percentage}%)`);
    deriveState();
    details();
    running = child.result();
    let outcome: PhaseResult['outcome'] | 'failed';
    try {
      const result = await running;
      outcome = result.outcome;
      Object.assign(phaseOf(n), result.status, { decisions: phaseOf(n).decisions, decisions_dropped: phaseOf(n).decisions_dropped });
    } catch (err) {
      // The phase failed or was terminated: halt until an operator approves (next phase) or aborts.
      outcome = 'failed';
      phaseOf(n).state = 'failed';
      log.error(`rollout ${name} phase ${n} failed`, { error: (err as Error).message });
    }
    c.results[n] = outcome;
    running = undefined;
    if (abortReason() !== undefined) return finishAborted(abortReason()!);
    if (outcome === 'aborted') return finishAborted(`phase ${n} was aborted`);
    if (outcome === 'failed' || outcome === 'orphaned') {
      c.state = 'halted';
      details();
      await condition(() => approveReq || abortReason() !== undefined);
      approveReq = false;
      if (abortReason() !== undefined) return finishAborted(abortReason()!);
      c.state = 'running';
    }
    log.info(`rollout ${name}: phase ${n} ${outcome}`);
  }
  c.state = 'completed';
  endedAt = new Date().toISOString();
  details();
  await condition(allHandlersFinished);
  return status();
}
