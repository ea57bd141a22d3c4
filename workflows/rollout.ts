/**
 * `rollout`: the runbook's feature-flag rollout (`rollout-<name>`). Runs the plan's phases in order
 * as child workflows `rollout-<name>-phase-<n>` (n from 1); each phase sets its percentage and
 * applies the decision matrix (workflows/rollout-phase.ts). What the rollout derives about itself (its
 * state from the current phase's, what it waits for, its details, a phase's reported status) is
 * workflows/rollout-progress.ts, pure functions; `RolloutRun` below holds the state and does the
 * signals, children, activities and search attributes.
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
  type ChildWorkflowOptions,
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
  type PhaseInput,
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
import {
  phaseDecisionSignal,
  rolloutAbortSignal,
  rolloutApproveSignal,
  rolloutPauseSignal,
  rolloutResumeSignal,
  rolloutStatusQuery,
} from '../shared/messages';
import {
  pendingPhases,
  phaseAfterDecision,
  phaseAfterResult,
  rolloutDetails,
  rolloutState,
  type RolloutView,
  rolloutWaitingFor,
} from './rollout-progress';

// Re-exported so the bundle's entry point registers both with one line.
export { rolloutPhase };

const controlActivities = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
});

export interface RolloutInput {
  name: string;
  plan: RolloutPlan;
  /** Passed to each phase (tests use it to exercise the phase's continue-as-new). */
  phaseMaxEvaluationsPerRun?: number;
}

export async function rollout(input: RolloutInput): Promise<RolloutStatus> {
  // A bad input fails the workflow at once instead of retrying its task (clients validate plans first).
  if (!input.plan?.phases?.length)
    throw ApplicationFailure.nonRetryable('the rollout plan has no phases', 'InvalidRolloutPlan');
  const run = new RolloutRun(input);
  run.listen();
  upsertSearchAttributes([{ key: SA.rolloutName, value: input.name }]);
  return run.loop();
}

/** How a phase ended: its own outcome, or `failed` when it failed or was terminated. */
type PhaseEnd = PhaseResult['outcome'] | 'failed';
type OperatorSignal = 'pause' | 'resume' | 'approve' | 'abort';

/** The child workflow of phase n (from 1). */
function phaseChild(input: RolloutInput, n: number): Omit<ChildWorkflowOptions, 'typeInfo'> & { args: [PhaseInput] } {
  const { name, plan } = input;
  const phasePlan = plan.phases[n - 1]!;
  return {
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
    staticSummary: `rollout ${name} phase ${n}/${plan.phases.length}: ${phasePlan.name} ${phasePlan.percentage}% for ${phasePlan.duration}`,
    staticDetails: `Sets rollout_percentage ${phasePlan.percentage}% and evaluates the decision matrix every ${Math.round(plan.evaluation_interval_ms / 60_000)} min. ${phasePlan.success_criteria ? `Success criteria: ${phasePlan.success_criteria}.` : ''}`,
    typedSearchAttributes: [
      { key: SA.rolloutName, value: name },
      { key: SA.rolloutPhase, value: n },
    ],
  };
}

/** One rollout: its progress, the operator's requests, and everything that acts on them. */
class RolloutRun implements RolloutView {
  readonly name: string;
  readonly plan: RolloutPlan;
  readonly summary: string;
  readonly startedAt = new Date().toISOString();
  state: RolloutState = 'running';
  current: number | null = null;
  readonly phases: PhaseStatus[];
  /** How each phase ended, by phase number: a phase without one is running (or not started). */
  readonly results: Record<number, PhaseEnd> = {};
  pausedBetween = false;
  /** Why the rollout ended as aborted (its status's `abort_reason`). */
  abortReason: string | null = null;
  endedAt: string | null = null;
  /** Operator requests the main loop acts on: approve when no running phase took it, abort always (after the phase stops). */
  readonly requests: { approve: boolean; abort?: { reason: string } } = { approve: false };
  /** The current phase's result while it runs. */
  running: Promise<PhaseResult> | undefined;

  constructor(readonly input: RolloutInput) {
    this.name = input.name;
    this.plan = input.plan;
    this.summary = planSummary(input.name, input.plan);
    this.phases = pendingPhases(input.plan);
  }

  listen(): void {
    setHandler(rolloutPauseSignal, () => this.pause(), {
      description:
        'Pause: the current phase stops its green clock (monitoring goes on); no next phase starts until resume or approve.',
    });
    setHandler(rolloutResumeSignal, () => this.resume(), { description: 'Resume from a pause or halt.' });
    setHandler(rolloutApproveSignal, () => this.approve(), {
      description: "Skip the rest of the current phase's window and proceed; or proceed from a halted or paused state.",
    });
    setHandler(rolloutAbortSignal, (arg) => this.abort(arg?.reason ?? 'aborted by an operator'), {
      description: 'Stop: rollout_percentage 0 through the control workflow; the rollout ends as aborted.',
    });
    setHandler(phaseDecisionSignal, (report) => this.recordDecision(report), {
      description: 'A phase reports a decision (with its numbers).',
    });
    setHandler(rolloutStatusQuery, () => this.status(), {
      description: 'Phases with their state, the current phase, every decision with its numbers.',
    });
  }

  async pause(): Promise<void> {
    if (!(await this.forward('pause'))) this.pausedBetween = true;
    this.refresh();
  }

  async resume(): Promise<void> {
    this.pausedBetween = false;
    await this.forward('resume');
    this.refresh();
  }

  async approve(): Promise<void> {
    if (!(await this.forward('approve'))) this.requests.approve = true;
    this.pausedBetween = false;
  }

  async abort(reason: string): Promise<void> {
    this.requests.abort = { reason };
    // The running phase stops now; the main loop then sets rollout_percentage 0.
    await this.forward('abort', reason);
  }

  recordDecision({ decision, status }: { decision: Decision; status: PhaseStatus }): void {
    const phase = this.phaseOf(decision.phase);
    Object.assign(phase, phaseAfterDecision(phase, decision, status));
    this.refresh();
  }

  /** Passes an operator signal on to the running phase; false when no phase runs or it could not be reached. */
  async forward(what: OperatorSignal, reason?: string): Promise<boolean> {
    if (this.current === null || this.results[this.current] !== undefined) return false;
    const phase = getExternalWorkflowHandle(phaseWorkflowId(this.name, this.current));
    try {
      if (what === 'pause') await phase.signal(rolloutPauseSignal);
      else if (what === 'resume') await phase.signal(rolloutResumeSignal);
      else if (what === 'approve') await phase.signal(rolloutApproveSignal);
      else await phase.signal(rolloutAbortSignal, { reason });
      return true;
    } catch (err) {
      log.warn(`could not forward ${what} to phase ${this.current}`, { error: (err as Error).message });
      return false;
    }
  }

  phaseOf(n: number): PhaseStatus {
    return this.phases[n - 1]!;
  }

  /** An abort's reason, once an operator asked for one (read through a method: TypeScript would keep a field narrowed across awaits). */
  abortRequested(): string | undefined {
    return this.requests.abort?.reason;
  }

  status(): RolloutStatus {
    return {
      name: this.name,
      state: this.state,
      summary: this.summary,
      current_phase: this.current,
      phases: this.phases,
      plan: this.plan,
      started_at: this.startedAt,
      ended_at: this.endedAt,
      abort_reason: this.abortReason,
      waiting_for: rolloutWaitingFor(this),
    };
  }

  details(): void {
    setCurrentDetails(rolloutDetails(this));
  }

  /** The state again from the current phase's, and the details with it. */
  refresh(): void {
    this.state = rolloutState(this);
    this.details();
  }

  /** Phase n becomes the current one, monitoring from now (its child is started next). */
  beginPhase(n: number): void {
    this.current = n;
    Object.assign(this.phaseOf(n), { state: 'monitoring', started_at: new Date().toISOString() });
    upsertSearchAttributes([{ key: SA.rolloutPhase, value: n }]);
  }

  phaseStarted(n: number): void {
    const phasePlan = this.plan.phases[n - 1]!;
    log.info(`rollout ${this.name}: phase ${n} started (${phasePlan.name}, ${phasePlan.percentage}%)`);
    this.refresh();
  }

  phaseEnded(n: number, result: PhaseResult): PhaseEnd {
    const phase = this.phaseOf(n);
    Object.assign(phase, phaseAfterResult(phase, result.status));
    return result.outcome;
  }

  /** The phase failed or was terminated: the rollout halts until an operator approves (next phase) or aborts. */
  phaseFailed(n: number, err: unknown): PhaseEnd {
    this.phaseOf(n).state = 'failed';
    log.error(`rollout ${this.name} phase ${n} failed`, { error: (err as Error).message });
    return 'failed';
  }

  /** Phase n no longer runs: nothing is forwarded to it any more. */
  markEnded(n: number, end: PhaseEnd): void {
    this.results[n] = end;
    this.running = undefined;
  }

  halt(): void {
    this.state = 'halted';
    this.details();
  }

  /**
   * The phases in order, each a child workflow awaited to its end, until the last ends or an abort.
   * Every await is here, in the order the history has them (a helper's extra await could reorder this
   * loop's commands against a signal handler's); the steps between them are the synchronous methods above.
   */
  async loop(): Promise<RolloutStatus> {
    this.details();
    for (let n = 1; n <= this.plan.phases.length; n++) {
      if (this.abortRequested() !== undefined) return this.finishAborted(this.abortRequested()!);
      if (this.pausedBetween) {
        // Paused with no phase running: the next phase waits for resume, approve or abort.
        this.details();
        await condition(() => !this.pausedBetween || this.requests.approve || this.abortRequested() !== undefined);
        this.pausedBetween = false;
        if (this.abortRequested() !== undefined) return this.finishAborted(this.abortRequested()!);
      }
      this.requests.approve = false;
      this.beginPhase(n);
      await controlActivities.recordRolloutPhase({ rollout: this.name, phase: n });
      const child = await startChild(rolloutPhase, phaseChild(this.input, n));
      this.phaseStarted(n);
      this.running = child.result();
      let end: PhaseEnd;
      try {
        end = this.phaseEnded(n, await this.running);
      } catch (err) {
        end = this.phaseFailed(n, err);
      }
      this.markEnded(n, end);
      if (this.abortRequested() !== undefined) return this.finishAborted(this.abortRequested()!);
      if (end === 'aborted') return this.finishAborted(`phase ${n} was aborted`);
      if (end === 'failed' || end === 'orphaned') {
        this.halt();
        await condition(() => this.requests.approve || this.abortRequested() !== undefined);
        this.requests.approve = false;
        if (this.abortRequested() !== undefined) return this.finishAborted(this.abortRequested()!);
        this.state = 'running';
      }
      log.info(`rollout ${this.name}: phase ${n} ${end}`);
    }
    return this.complete();
  }

  async complete(): Promise<RolloutStatus> {
    this.state = 'completed';
    this.endedAt = new Date().toISOString();
    this.details();
    await condition(allHandlersFinished);
    return this.status();
  }

  /** Stops the running phase if there is one, sets rollout_percentage 0, and ends the rollout as aborted. */
  async finishAborted(reason: string): Promise<RolloutStatus> {
    const current = this.current;
    if (current !== null && this.results[current] === undefined && this.running) {
      await this.forward('abort', reason);
      // The phase stops at its next step; it never waits long (no activity runs for more than a minute).
      await Promise.race([this.running.catch(() => undefined), sleep('2 minutes')]);
    }
    await controlActivities.applyRolloutConfig({ 'speculation.features.rollout_percentage': 0 });
    await controlActivities.recordRolloutPhase({ rollout: this.name, phase: 0 });
    this.state = 'aborted';
    this.abortReason = reason;
    this.endedAt = new Date().toISOString();
    log.warn(`rollout ${this.name} aborted: ${reason}; rollout_percentage set to 0`);
    this.details();
    await condition(allHandlersFinished);
    return this.status();
  }
}
