/**
 * `rolloutPhase`: one phase of a rollout (`rollout-<name>-phase-<n>`), a child of `rollout`.
 *
 * It sets the phase's percentage through the control workflow's `setConfig` update (an activity: a
 * workflow cannot call another workflow's update), then evaluates the runbook's decision matrix every
 * `evaluation_interval` over the last `metric_window` of readings. What it decides is pure functions:
 * the matrix and the green window in rollout-decisions.ts, an operator's requests in rollout-requests.ts,
 * its reports and waits in rollout-reports.ts; this workflow does the timers, signals and I/O.
 *
 * "Green for the whole window": the phase proceeds when `duration` has passed since the current green
 * stretch began (the phase start, or the last non-green reading / resume), so a phase with an incident
 * lasts longer than its nominal duration, and (patch `rollout-evidence`) only when its latest reading
 * is evidence: green on at least `min_sample` speculative tasks with every signal observed
 * (shared/rollout-model.ts `judgeReading`); otherwise it holds. Runs started before the patch keep the
 * old rule (below the sample counts as green) until they continue as new. While halted nothing is
 * evaluated: the phase waits for an operator. The last phase may be "ongoing": it evaluates until abort
 * (or approve, which ends the rollout as done).
 *
 * History stays bounded: every wait is a `condition` with a timeout (no polling loop), and the phase
 * continues as new when the server suggests it or after `maxEvaluationsPerRun` evaluations, carrying
 * its state (an ongoing phase can run for months). Every decision is logged and signalled to the
 * rollout (the quiet readings of an ongoing or holding phase, all the same, at most once per metric
 * window). `speculation_rollout_insufficient_evidence{rollout}` follows the latest reading through the
 * `rollout` sink (no command, nothing on replay).
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
  type PhasePlan,
  type PhaseResult,
  type PhaseStatus,
  type RolloutActivities,
  type RolloutReadings,
  rolloutWorkflowId,
} from '../shared/rollout-model';
import type { MetricsSinks } from '../shared/metrics-sink';
import { SA } from '../shared/search-attributes';
import {
  phaseDecisionSignal,
  phaseStatusQuery,
  rolloutAbortSignal,
  rolloutApproveSignal,
  rolloutPauseSignal,
  rolloutResumeSignal,
} from '../shared/messages';
import {
  branchReductionDue,
  decideBranchReduction,
  decideNoData,
  decideReading,
  decideWindow,
  type EndingStep,
  endState,
  iso,
  newPhaseCarry,
  type PhaseSettings,
  phaseSettings,
  type PhaseStep,
  setPercentage,
} from './rollout-decisions';
import { operatorAbort, operatorApprove, operatorPause, operatorResume, reappliesPercentage } from './rollout-requests';
import { nextWakeAt, rolloutReport, waitingFor } from './rollout-reports';

const controlActivities = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
});
/** A reading that fails three times is recorded as `no_data` rather than stalling the phase. */
const readingActivities = proxyActivities<RolloutActivities>({
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

export async function rolloutPhase(input: PhaseInput): Promise<PhaseResult> {
  // Decided once per run, first: a run started before the patch keeps the old rule to its end (or its
  // continue-as-new), instead of switching in the middle of the history it replays.
  const evidenceRule = patched(EVIDENCE_PATCH);
  const { plan, phase } = input;
  const phasePlan = plan.phases[phase - 1];
  if (!phasePlan) throw new Error(`phase ${phase} is not in the plan (${plan.phases.length} phases)`);
  const run = new PhaseRun(
    input,
    phasePlan,
    phaseSettings(plan, phasePlan, { phase, previousPercentage: input.previousPercentage, evidenceRule }),
  );
  run.listen();
  upsertSearchAttributes([
    { key: SA.rolloutName, value: input.rollout },
    { key: SA.rolloutPhase, value: phase },
  ]);
  await run.start();
  return run.loop();
}

/** The numbers behind a decision (absent for operator decisions). */
type DecisionNumbers = Pick<Decision, 'readings' | 'window' | 'sample_sufficient' | 'changes'>;

/** One run of a phase: its state (carried across continue-as-new) and everything that acts on it. */
class PhaseRun {
  readonly carry: PhaseCarry;
  /** Operator requests, set by the signal handlers and acted on by the main loop (one place changes state). */
  readonly requests: { pause: boolean; resume: boolean; approve: boolean; abort?: { reason: string } } = {
    pause: false,
    resume: false,
    approve: false,
  };
  /** The rollout is gone (terminated): nothing is left to report to; the phase ends itself. */
  orphaned = false;
  endedAt: number | null = null;
  /** The evidence metric's life: it outlasts a late evaluation; a worker that no longer runs the phase stops reporting it soon. */
  readonly evidenceTtl: number;

  constructor(
    readonly input: PhaseInput,
    readonly phasePlan: PhasePlan,
    readonly settings: PhaseSettings,
  ) {
    this.carry = input.carried ?? newPhaseCarry(Date.now());
    this.evidenceTtl = 2 * settings.intervalMs + 60_000;
  }

  listen(): void {
    const requests = this.requests;
    setHandler(rolloutPauseSignal, () => void (requests.pause = true), {
      description: 'Pause the phase: the green clock stops; evaluation goes on; only resume or approve ends it.',
    });
    setHandler(rolloutResumeSignal, () => void (requests.resume = true), {
      description:
        "Resume from a pause or halt: monitoring restarts (after a P1 roll-back, this phase's percentage is re-applied).",
    });
    setHandler(rolloutApproveSignal, () => void (requests.approve = true), {
      description: 'Skip the rest of the window (or leave a halt or pause) and proceed.',
    });
    setHandler(
      rolloutAbortSignal,
      (arg) => void (requests.abort = { reason: arg?.reason ?? 'aborted by an operator' }),
      {
        description: 'End the phase as aborted (the rollout sets rollout_percentage 0).',
      },
    );
    setHandler(phaseStatusQuery, () => this.status(), {
      description: 'State, green clock, evaluations and every decision with its numbers.',
    });
  }

  requested(): boolean {
    const { pause, resume, approve, abort } = this.requests;
    return pause || resume || approve || Boolean(abort);
  }

  status(): PhaseStatus {
    const { carry, phasePlan } = this;
    return {
      phase: this.settings.phase,
      name: phasePlan.name,
      percentage: phasePlan.percentage,
      duration: phasePlan.duration,
      state: carry.state,
      started_at: iso(carry.startedAt),
      ended_at: iso(this.endedAt),
      green_since: iso(carry.greenSince),
      evaluations: carry.evaluations,
      decisions: carry.decisions,
      decisions_dropped: carry.decisionsDropped,
      decision_counts: carry.decisionCounts,
      waiting_for: this.waitingFor(),
      ...(carry.evidence ? { evidence: carry.evidence } : {}),
    };
  }

  waitingFor(): string | null {
    return waitingFor(this.carry, Date.now(), this.settings, this.endedAt !== null);
  }

  details(): void {
    const { carry, phasePlan, settings } = this;
    const waiting = this.waitingFor();
    const lacking =
      this.endedAt === null && carry.evidence?.insufficient
        ? ` — insufficient evidence: ${carry.evidence.missing.join('; ')}`
        : '';
    setCurrentDetails(
      `**Phase ${settings.phase}/${this.input.plan.phases.length} ${phasePlan.name} (${phasePlan.percentage}%)**: ${carry.state}${lacking}${waiting ? ` — waiting for ${waiting}` : ''}`,
    );
  }

  setEvidence(evidence: Omit<PhaseEvidence, 'at'>, at: number): void {
    this.carry.evidence = { ...evidence, at: iso(at)! };
    rolloutSink.evidence(this.input.rollout, this.settings.phase, evidence.insufficient, this.evidenceTtl);
  }

  /** Keeps, logs and reports one decision to the rollout (quiet ones at most once per metric window). */
  async record(action: DecisionAction, reason: string, numbers: DecisionNumbers = {}): Promise<void> {
    const { carry, input } = this;
    const phase = this.settings.phase;
    const decision: Decision = { phase, at: new Date().toISOString(), action, reason, ...numbers };
    carry.decisions.push(decision);
    if (carry.decisions.length > MAX_DECISIONS_KEPT) {
      carry.decisions.splice(0, carry.decisions.length - MAX_DECISIONS_KEPT);
      carry.decisionsDropped += 1;
    }
    carry.decisionCounts[action] = (carry.decisionCounts[action] ?? 0) + 1;
    log.info(`rollout ${input.rollout} phase ${phase}: ${action}: ${reason}`, {
      rollout: input.rollout,
      phase,
      decision,
    });
    this.details();
    const report = rolloutReport(action, carry, Date.now(), this.settings);
    if (!report.send) return;
    if (report.quiet) Object.assign(carry, report.quiet);
    try {
      await getExternalWorkflowHandle(rolloutWorkflowId(input.rollout)).signal(phaseDecisionSignal, {
        decision,
        status: { ...this.status(), decisions: [] },
      });
    } catch {
      this.orphaned = true;
    }
  }

  /** Carries out one decision: its config changes first, then its state, then its record. */
  async apply(step: PhaseStep, numbers: DecisionNumbers = {}): Promise<void> {
    if (step.changes) await controlActivities.applyRolloutConfig(step.changes);
    Object.assign(this.carry, step.next);
    if (step.action)
      await this.record(step.action, step.reason, step.changes ? { ...numbers, changes: step.changes } : numbers);
  }

  async applyPercentage(): Promise<void> {
    await this.apply(setPercentage(this.settings));
  }

  /** Carries out a decision that ends the phase, and ends it. */
  async finish(step: EndingStep): Promise<PhaseResult> {
    await this.apply(step);
    return this.end(step.end.outcome, step.end.reason);
  }

  async end(outcome: PhaseOutcome, reason: string): Promise<PhaseResult> {
    const { carry, input } = this;
    carry.state = endState(outcome);
    this.endedAt = Date.now();
    this.details();
    // The phase no longer holds anything up: the next phase reports its own evidence.
    rolloutSink.evidence(input.rollout, this.settings.phase, false, this.evidenceTtl);
    log.info(`rollout ${input.rollout} phase ${this.settings.phase} ended: ${outcome}: ${reason}`);
    // The rollout has every decision already (by signal): the result carries the final status only.
    const result: PhaseResult = { phase: this.settings.phase, outcome, status: { ...this.status(), decisions: [] } };
    await condition(allHandlersFinished);
    return result;
  }

  /** A new phase sets its percentage and starts its green window (a continued or rolled-back one does not). */
  async start(): Promise<void> {
    const carry = this.carry;
    if (!carry.percentageSet && !carry.rolledBack) {
      await this.applyPercentage();
      carry.greenSince = Date.now();
      carry.nextEvalAt = Date.now() + this.settings.intervalMs;
    }
    this.details();
  }

  /** One evaluation of the decision matrix. */
  async evaluate(): Promise<void> {
    const { carry, settings } = this;
    // The phase's clocks (green since, clear since, last reduction) run on the evaluation schedule,
    // not on when the reading came back, so "a full interval" is exactly one interval of readings.
    const now = Math.min(carry.nextEvalAt, Date.now());
    const window: MetricWindow = {
      start: iso(Math.max(carry.startedAt, Date.now() - settings.metricWindowMs))!,
      end: iso(Date.now())!,
    };
    let readings: RolloutReadings;
    try {
      readings = await readingActivities.readRolloutMetrics(window);
    } catch (err) {
      const message = (err as Error).message;
      this.setEvidence(
        { sufficient: false, insufficient: true, missing: [`no reading: ${message}`], unknown: [] },
        now,
      );
      await this.apply(decideNoData(message, carry, now), { window });
      return;
    }
    carry.evaluations += 1;
    const judgement = judgeReading(readings, settings.thresholds);
    this.setEvidence(
      {
        sufficient: judgement.evidence,
        insufficient: judgement.insufficient,
        missing: judgement.gaps,
        unknown: judgement.unknown,
      },
      now,
    );
    const numbers = { readings, window, sample_sufficient: judgement.sampleSufficient };
    if (branchReductionDue(judgement, carry, now, settings)) {
      carry.lastReduceAt = now;
      const live = await controlActivities.readControlConfig();
      await this.apply(decideBranchReduction(readings, settings.thresholds, live.max_parallel_branches), numbers);
    }
    await this.apply(decideReading(readings, carry, now, settings, judgement), numbers);
  }

  /** The operator's requests, in order: abort, approve (both end the phase), pause, resume. */
  async actOnRequests(): Promise<PhaseResult | undefined> {
    const { carry, requests, settings } = this;
    if (this.orphaned)
      return this.end('orphaned', `the rollout ${rolloutWorkflowId(this.input.rollout)} no longer exists`);
    if (requests.abort) return this.finish(operatorAbort(requests.abort.reason));
    if (requests.approve) {
      requests.approve = false;
      if (reappliesPercentage('approve', carry, settings)) await this.applyPercentage();
      return this.finish(operatorApprove(carry));
    }
    if (requests.pause) {
      requests.pause = false;
      const step = operatorPause(carry);
      if (step) await this.apply(step);
    }
    if (requests.resume) {
      requests.resume = false;
      if (reappliesPercentage('resume', carry, settings)) await this.applyPercentage();
      const step = operatorResume(carry, Date.now(), settings);
      if (step) await this.apply(step);
    }
    return undefined;
  }

  /** The end of the green window: proceed (the phase ends), hold, or nothing yet. */
  async checkWindow(): Promise<PhaseResult | undefined> {
    const step = decideWindow(this.carry, Date.now(), this.settings);
    if (step?.end) return this.finish({ ...step, end: step.end });
    if (step) await this.apply(step);
    return undefined;
  }

  /** Waits for the next evaluation, the end of the window or an operator, until the phase ends or continues as new. */
  async loop(): Promise<PhaseResult> {
    const { carry, settings } = this;
    const maxPerRun = this.input.maxEvaluationsPerRun ?? DEFAULT_MAX_EVALUATIONS_PER_RUN;
    let evaluationsThisRun = 0;
    for (;;) {
      const ended = (await this.actOnRequests()) ?? (await this.checkWindow());
      if (ended) return ended;
      if (evaluationsThisRun >= maxPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        if (!this.requested()) await continueAsNew<typeof rolloutPhase>({ ...this.input, carried: carry });
        continue;
      }
      if (carry.state === 'halted') {
        // While halted nothing is evaluated: the phase waits for an operator.
        this.details();
        await condition(() => this.requested());
        continue;
      }
      const deadline = nextWakeAt(carry, settings);
      this.details();
      if (await condition(() => this.requested(), Math.max(1, deadline - Date.now()))) continue;
      if (Date.now() >= carry.nextEvalAt) {
        await this.evaluate();
        evaluationsThisRun += 1;
        carry.nextEvalAt = Math.max(carry.nextEvalAt + settings.intervalMs, Date.now() + 1);
      }
    }
  }
}
