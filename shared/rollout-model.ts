/**
 * The feature-flag rollout (runbook "Feature Flag Rollout Strategy"): the plan, its default (the
 * runbook's table), the decision matrix's thresholds, the readings a metric source gives, the
 * decisions a phase records (its signals and queries are in shared/messages.ts). Shared by the `rollout` and
 * `rolloutPhase` workflows, their activities, the CLI and the client script.
 *
 * Imported by workflow code: no Node built-ins here (zod and the SDK's `ms` durations are pure JS).
 */
import { msToNumber, type Duration } from '@temporalio/common';
import { z } from 'zod';

// ── the plan ───────────────────────────────────────────────────────────────────────────────────────

/** Decision-matrix thresholds (fractions, not percents). */
export interface RolloutThresholds {
  /** Rollback rate above this halts the rollout (runbook: > 10%). */
  halt_rollback_rate: number;
  /** Rollback rate at or above this (and not above the halt threshold) pauses it (runbook: 5-10%). */
  pause_rollback_rate: number;
  /** Memory growth per hour above this reduces max_parallel_branches by one (runbook: > 20%/hour). */
  memory_growth_per_hour: number;
  /** Proof queue depth / capacity above this pauses (runbook: > 80% capacity). */
  proof_queue_utilisation: number;
  /**
   * Rates act only with at least this many speculative tasks started in the metric window. 20, the
   * same floor as the Prometheus alerts (`speculation:speculative_tasks_started:increase1h >= 20`),
   * so both metric sources decide alike. With 20 tasks a halt (> 10%) needs at least 3 rollbacks, so
   * one or two unlucky tasks can never stop a rollout, while a single rollback can still pause it
   * (which heals itself). Below it, 1 rollback of 4 tasks would read 25% and halt a quiet canary on
   * noise: AgenC's own runtime auto-disabled with no minimum sample.
   * The same floor is what a phase needs to proceed: a reading below it is insufficient evidence,
   * neither an incident nor green (see `judgeReading`).
   */
  min_sample: number;
}

export const DEFAULT_THRESHOLDS: RolloutThresholds = {
  halt_rollback_rate: 0.1,
  pause_rollback_rate: 0.05,
  memory_growth_per_hour: 0.2,
  proof_queue_utilisation: 0.8,
  min_sample: 20,
};

export interface PhasePlan {
  name: string;
  /** speculation.features.rollout_percentage for this phase, 0-100. */
  percentage: number;
  /** Green time needed before proceeding, in ms; null = "ongoing" (evaluates until abort or approve). */
  duration_ms: number | null;
  /** As written in the plan ("24h", "1 week", "ongoing"). */
  duration: string;
  success_criteria?: string;
}

export interface RolloutPlan {
  phases: PhasePlan[];
  /** How often a phase evaluates the decision matrix (plan field `evaluation_interval`, default 10 minutes). */
  evaluation_interval_ms: number;
  /** How far back each reading looks (default 1 hour, as the Prometheus recording rules do). */
  metric_window_ms: number;
  thresholds: RolloutThresholds;
}

/** The runbook's table. */
export const DEFAULT_PLAN_FILE = {
  evaluation_interval: '10 minutes',
  metric_window: '1h',
  phases: [
    { name: 'Canary', percentage: 1, duration: '24h', success_criteria: 'Rollback rate < 5%, No P1 alerts' },
    {
      name: 'Early Adopters',
      percentage: 5,
      duration: '48h',
      success_criteria: 'Rollback rate < 3%, Latency within SLO',
    },
    { name: 'Expanding', percentage: 25, duration: '72h', success_criteria: 'All metrics green, No escalations' },
    { name: 'Majority', percentage: 50, duration: '1 week', success_criteria: 'Stable performance' },
    { name: 'Full', percentage: 100, duration: 'ongoing', success_criteria: 'Monitor for regressions' },
  ],
};

/** A duration in the SDK's ms format ("24h", "1 week", "10 minutes", or a number of ms); NaN when it is not one. */
export function parseDuration(value: Duration): number {
  try {
    const n = msToNumber(value);
    return typeof n === 'number' && Number.isFinite(n) ? n : NaN;
  } catch {
    return NaN;
  }
}

const durationField = (what: string, allowOngoing: boolean) =>
  z
    .union([z.string(), z.number()], {
      errorMap: () => ({
        message: `${what} must be a duration such as "24h", "1 week", "10 minutes"${allowOngoing ? ' or "ongoing"' : ''}`,
      }),
    })
    .superRefine((v, ctx) => {
      if (allowOngoing && typeof v === 'string' && v.trim().toLowerCase() === 'ongoing') return;
      const ms = parseDuration(v as Duration);
      if (!Number.isFinite(ms) || ms <= 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `${what} ${JSON.stringify(v)} is not a positive duration (examples: "24h", "1 week", "10 minutes"${allowOngoing ? ', "ongoing"' : ''})`,
        });
      }
    });

const fraction = (what: string) =>
  z
    .number({ invalid_type_error: `${what} must be a number between 0 and 1` })
    .min(0, `${what} must be >= 0`)
    .max(1, `${what} must be <= 1`);

export const planFileSchema = z
  .object({
    name: z.string().optional(),
    evaluation_interval: durationField('evaluation_interval', false).optional(),
    metric_window: durationField('metric_window', false).optional(),
    thresholds: z
      .object({
        halt_rollback_rate: fraction('halt_rollback_rate').optional(),
        pause_rollback_rate: fraction('pause_rollback_rate').optional(),
        memory_growth_per_hour: z.number().min(0, 'memory_growth_per_hour must be >= 0').optional(),
        proof_queue_utilisation: fraction('proof_queue_utilisation').optional(),
        min_sample: z.number().int('min_sample must be a whole number').min(1, 'min_sample must be >= 1').optional(),
      })
      .strict()
      .optional(),
    phases: z
      .array(
        z
          .object({
            name: z.string({ required_error: 'is required (e.g. "Canary")' }).min(1, 'must not be empty'),
            percentage: z
              .number({ required_error: 'is required (0-100)', invalid_type_error: 'must be a number 0-100' })
              .gt(0, 'must be > 0')
              .max(100, 'must be <= 100'),
            duration: durationField('duration', true),
            success_criteria: z.string().optional(),
          })
          .strict(),
        { required_error: 'is required: a list of {name, percentage, duration}' },
      )
      .min(1, 'needs at least one phase'),
  })
  .strict()
  .superRefine((plan, ctx) => {
    plan.phases.forEach((p, i) => {
      const prev = plan.phases[i - 1];
      if (prev && p.percentage <= prev.percentage) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['phases', i, 'percentage'],
          message: `must be greater than the previous phase's ${prev.percentage} (a rollout only grows)`,
        });
      }
      const ongoing = typeof p.duration === 'string' && p.duration.trim().toLowerCase() === 'ongoing';
      if (ongoing && i !== plan.phases.length - 1) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['phases', i, 'duration'],
          message: '"ongoing" is allowed only for the last phase',
        });
      }
    });
    const t = { ...DEFAULT_THRESHOLDS, ...(plan.thresholds ?? {}) };
    if (t.pause_rollback_rate > t.halt_rollback_rate) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['thresholds', 'pause_rollback_rate'],
        message: `must be <= halt_rollback_rate (${t.halt_rollback_rate})`,
      });
    }
  });

export type PlanFile = z.input<typeof planFileSchema>;

export type PlanResult = { ok: true; plan: RolloutPlan } | { ok: false; problems: string[] };

/** Validates a plan file (JSON already parsed); every problem names its field, e.g. `phases[1].percentage: must be > 0`. */
export function parsePlan(raw: unknown): PlanResult {
  const result = planFileSchema.safeParse(raw);
  if (!result.success) {
    return {
      ok: false,
      problems: result.error.issues.map((i) => {
        const where = i.path.map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n ? '.' : ''}${p}`)).join('');
        return `${where || '(plan)'}: ${i.message}`;
      }),
    };
  }
  const f = result.data;
  return {
    ok: true,
    plan: {
      evaluation_interval_ms:
        f.evaluation_interval !== undefined ? parseDuration(f.evaluation_interval as Duration) : 10 * 60_000,
      metric_window_ms: f.metric_window !== undefined ? parseDuration(f.metric_window as Duration) : 60 * 60_000,
      thresholds: { ...DEFAULT_THRESHOLDS, ...(f.thresholds ?? {}) },
      phases: f.phases.map((p) => {
        const ongoing = typeof p.duration === 'string' && p.duration.trim().toLowerCase() === 'ongoing';
        return {
          name: p.name,
          percentage: p.percentage,
          duration: String(p.duration),
          duration_ms: ongoing ? null : parseDuration(p.duration as Duration),
          ...(p.success_criteria ? { success_criteria: p.success_criteria } : {}),
        };
      }),
    },
  };
}

export function defaultPlan(): RolloutPlan {
  const r = parsePlan(DEFAULT_PLAN_FILE);
  if (!r.ok) throw new Error(`default plan invalid: ${r.problems.join('; ')}`);
  return r.plan;
}

export function planSummary(name: string, plan: RolloutPlan): string {
  const first = plan.phases[0]!;
  const last = plan.phases[plan.phases.length - 1]!;
  return `rollout ${name}: ${plan.phases.length} phase${plan.phases.length === 1 ? '' : 's'} ${first.percentage}% → ${last.percentage}%`;
}

export const ROLLOUT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/;
export const rolloutWorkflowId = (name: string) => `rollout-${name}`;
export const phaseWorkflowId = (name: string, n: number) => `rollout-${name}-phase-${n}`;

// ── readings and decisions ─────────────────────────────────────────────────────────────────────────

export interface MetricWindow {
  /** ISO timestamps. */
  start: string;
  end: string;
}

/**
 * Decision-matrix inputs a metric source may be unable to observe at all (Temporal visibility sees
 * neither; Prometheus has no memory growth until a worker has an hour of history). Reported as
 * `unknown` rather than as a quiet 0 / none, so a phase never proceeds on what nobody looked at.
 */
export type ObservedSignal = 'p1_alerts' | 'memory_growth' | 'proof_queue';

export interface RolloutReadings {
  speculativeTasks: number;
  rollbacks: number;
  /** rollbacks / speculativeTasks (0 when nothing speculative started). */
  rollbackRate: number;
  /** Fractional growth over the last hour (0.25 = +25%/h); 0 where the source cannot tell (see notes). */
  memoryGrowthPerHour: number;
  proofQueueDepth: number;
  proofQueueCapacity: number;
  /** Names of firing P1 alerts. */
  p1Alerts: string[];
  /** Signals the source could not observe: their fields above (0, none) mean nothing. */
  unknown?: ObservedSignal[];
  /** Which source answered. */
  source?: string;
  /** What the source could not measure, and why. */
  notes?: string[];
}

export type DecisionAction =
  /** All green, on a full sample with every signal observed (before the `rollout-evidence` patch: also below the sample). */
  | 'continue'
  /**
   * Nothing in the matrix fires, but the reading is no evidence: fewer than `min_sample`
   * speculative tasks, or a signal its source cannot observe. Not green; the window goes on.
   */
  | 'insufficient_evidence'
  /** The green window is over without evidence: the phase holds its percentage and keeps evaluating. */
  | 'hold'
  | 'pause'
  /** Still paused: the reading is not yet clear for a full interval. */
  | 'stay_paused'
  | 'auto_resume'
  | 'halt'
  | 'reduce_branches'
  | 'rollback_phase'
  /** Green for the whole window: proceed to the next phase. */
  | 'proceed'
  /** Operator signals. */
  | 'operator_pause'
  | 'operator_resume'
  | 'operator_approve'
  | 'operator_abort'
  | 'percentage_set'
  /** The metric source could not be read: not green (the window restarts), nothing else changes. */
  | 'no_data';

export interface Decision {
  phase: number;
  at: string;
  action: DecisionAction;
  reason: string;
  /** The numbers behind it (absent for operator decisions). */
  readings?: RolloutReadings;
  window?: MetricWindow;
  /** Whether the rates were judged (false when the sample was below `min_sample`). */
  sample_sufficient?: boolean;
  /** Config changes this decision made through the control workflow. */
  changes?: Record<string, unknown>;
}

/** `holding`: the phase's window is over without evidence; it keeps its percentage and evaluates until evidence, approve or abort. */
export type PhaseState =
  'pending' | 'monitoring' | 'holding' | 'paused' | 'halted' | 'completed' | 'approved' | 'aborted' | 'failed';

/** What a phase's latest reading is worth as evidence (in its status, its details and the CLI). */
export interface PhaseEvidence {
  /** Green, at least `min_sample` speculative tasks, every signal observed: the phase may proceed on it. */
  sufficient: boolean;
  /**
   * Too few speculative tasks, a signal its source cannot observe, or no reading at all: what
   * `speculation_rollout_insufficient_evidence` reports. A red reading is not this (it is evidence, of a problem).
   */
  insufficient: boolean;
  /** What the evidence lacks, e.g. "0 of 20 speculative tasks in the metric window (min_sample)"; empty when it lacks nothing. */
  missing: string[];
  unknown: ObservedSignal[];
  /** When it was read. */
  at: string;
}

export type PhaseOutcome = 'completed' | 'approved' | 'aborted' | 'orphaned';

export interface PhaseInput {
  rollout: string;
  /** 1-based. */
  phase: number;
  plan: RolloutPlan;
  /** Percentage of the phase before (0 for the first): where a P1 alert rolls back to. */
  previousPercentage: number;
  /** Carried across continue-as-new. */
  carried?: PhaseCarry;
  /** Continue-as-new after this many evaluations even if the server does not suggest it (tests use it). */
  maxEvaluationsPerRun?: number;
}

export interface PhaseCarry {
  startedAt: number;
  state: PhaseState;
  greenSince: number | null;
  clearSince: number | null;
  pauseKind: 'metrics' | 'operator' | null;
  lastReduceAt: number | null;
  percentageSet: boolean;
  evaluations: number;
  decisions: Decision[];
  decisionsDropped: number;
  decisionCounts: Partial<Record<DecisionAction, number>>;
  nextEvalAt: number;
  /** Resume was asked while halted after a P1 roll-back: this phase's percentage is re-applied. */
  rolledBack: boolean;
  /** When the ongoing phase last reported an all-green reading to the rollout. */
  lastQuietReportAt?: number;
  /** Which quiet action that was (`continue` or `insufficient_evidence`): a change is reported at once. */
  lastQuietAction?: DecisionAction;
  /** The latest reading as evidence. */
  evidence?: PhaseEvidence;
}

export interface PhaseStatus {
  phase: number;
  name: string;
  percentage: number;
  duration: string;
  state: PhaseState;
  started_at: string | null;
  ended_at: string | null;
  /** When the current green stretch began (the phase proceeds when it is `duration` old). */
  green_since: string | null;
  evaluations: number;
  decisions: Decision[];
  /** Older decisions left out of `decisions` to keep the status bounded (they are in the workflow log). */
  decisions_dropped: number;
  /** Every decision of the phase counted by action, dropped ones included. */
  decision_counts: Partial<Record<DecisionAction, number>>;
  waiting_for: string | null;
  /** The latest reading as evidence (absent before the first reading). */
  evidence?: PhaseEvidence;
}

export interface PhaseResult {
  phase: number;
  outcome: PhaseOutcome;
  status: PhaseStatus;
}

/** `holding`: the current phase holds for lack of evidence. */
export type RolloutState = 'running' | 'holding' | 'paused' | 'halted' | 'completed' | 'aborted';

export interface RolloutStatus {
  name: string;
  state: RolloutState;
  summary: string;
  current_phase: number | null;
  phases: PhaseStatus[];
  plan: RolloutPlan;
  started_at: string;
  ended_at: string | null;
  abort_reason: string | null;
  waiting_for: string | null;
}

// ── the decision matrix, one reading at a time ─────────────────────────────────────────────────────

const pctText = (x: number) => `${(x * 100).toFixed(1)}%`;
const SIGNAL_NAMES: Record<ObservedSignal, string> = {
  p1_alerts: 'P1 alerts',
  memory_growth: 'memory growth',
  proof_queue: 'proof queue',
};

export interface ReadingJudgement {
  /** At least `min_sample` speculative tasks: the rates are judged. */
  sampleSufficient: boolean;
  /** Rollback rate above the halt threshold (judged on a full sample only). */
  rateHalt: boolean;
  /** Rollback rate in the pause band (judged on a full sample only). */
  ratePause: boolean;
  /** Proof queue depth / capacity (0 without a capacity). */
  utilisation: number;
  queuePause: boolean;
  memoryHigh: boolean;
  p1: boolean;
  /** Signals the source could not observe. */
  unknown: ObservedSignal[];
  /** No row of the matrix fires. */
  clean: boolean;
  /** Evidence is lacking: too few speculative tasks, or a signal unobserved. */
  insufficient: boolean;
  /** Clean, on a full sample, every signal observed: a phase may proceed on it. */
  evidence: boolean;
  /** The rows that fire ("rollback rate 12.5% > 10.0%"). */
  problems: string[];
  /** What the evidence lacks ("0 of 20 speculative tasks in the metric window (min_sample)"). */
  gaps: string[];
  /** Why it is not evidence: problems, then gaps; empty when it is. */
  missing: string[];
}

/**
 * One reading against the decision matrix's thresholds. Rates count only on a full sample (a quiet
 * canary is never halted on noise); the proof queue, memory growth and P1 alerts count on any
 * sample. A reading proceeds a phase only as evidence: clean, a full sample, and every signal seen.
 */
export function judgeReading(r: RolloutReadings, t: RolloutThresholds): ReadingJudgement {
  const sampleSufficient = r.speculativeTasks >= t.min_sample;
  const rateHalt = sampleSufficient && r.rollbackRate > t.halt_rollback_rate;
  const ratePause = sampleSufficient && !rateHalt && r.rollbackRate >= t.pause_rollback_rate;
  const utilisation = r.proofQueueCapacity > 0 ? r.proofQueueDepth / r.proofQueueCapacity : 0;
  const queuePause = utilisation > t.proof_queue_utilisation;
  const memoryHigh = r.memoryGrowthPerHour > t.memory_growth_per_hour;
  const p1 = r.p1Alerts.length > 0;
  const unknown = [...new Set(r.unknown ?? [])];
  const problems = [
    p1 ? `P1 alert firing (${r.p1Alerts.join(', ')})` : '',
    rateHalt ? `rollback rate ${pctText(r.rollbackRate)} > ${pctText(t.halt_rollback_rate)}` : '',
    ratePause
      ? `rollback rate ${pctText(r.rollbackRate)} in [${pctText(t.pause_rollback_rate)}, ${pctText(t.halt_rollback_rate)}]`
      : '',
    queuePause ? `proof queue ${pctText(utilisation)} > ${pctText(t.proof_queue_utilisation)}` : '',
    memoryHigh ? `memory growth ${pctText(r.memoryGrowthPerHour)}/h > ${pctText(t.memory_growth_per_hour)}/h` : '',
  ].filter(Boolean);
  const gaps = [
    sampleSufficient
      ? ''
      : `${r.speculativeTasks} of ${t.min_sample} speculative tasks in the metric window (min_sample)`,
    ...unknown.map((u) => `${SIGNAL_NAMES[u]}: not observable by the ${r.source ?? 'metric'} source`),
  ].filter(Boolean);
  const clean = problems.length === 0;
  const insufficient = gaps.length > 0;
  return {
    sampleSufficient,
    rateHalt,
    ratePause,
    utilisation,
    queuePause,
    memoryHigh,
    p1,
    unknown,
    clean,
    insufficient,
    evidence: clean && !insufficient,
    problems,
    gaps,
    missing: [...problems, ...gaps],
  };
}

export type WindowVerdict = 'wait' | 'proceed' | 'hold';

/**
 * Whether a phase proceeds. `greenForMs`: how long its current green stretch has run (null when it
 * is not green: paused, halted). Before the window is over it waits; once it is over, it proceeds on
 * a latest reading that is evidence, and holds otherwise (no reading yet included): it keeps its
 * percentage and goes on evaluating, for as long as it takes, until evidence, approve or abort.
 * An ongoing phase (`durationMs` null) never proceeds on its own.
 */
export function windowVerdict(o: {
  durationMs: number | null;
  greenForMs: number | null;
  lastReadingIsEvidence: boolean | undefined;
}): WindowVerdict {
  if (o.durationMs === null || o.greenForMs === null || o.greenForMs < o.durationMs) return 'wait';
  return o.lastReadingIsEvidence === true ? 'proceed' : 'hold';
}

/**
 * Per phase, the status keeps the latest this many decisions (and carries them across
 * continue-as-new): 3.5 days of 10-minute evaluations, about 200 kB. Older ones are counted in
 * `decision_counts` / `decisions_dropped` and stay in the workflow's log; the bound keeps query
 * answers and continue-as-new inputs well under Temporal's 2 MB payload limit for any plan.
 */
export const MAX_DECISIONS_KEPT = 500;

/** Activities the rollout workflows call (types only in workflow code). */
export interface RolloutActivities {
  readRolloutMetrics(window: MetricWindow): Promise<RolloutReadings>;
  /** setConfig on the control workflow with dotted keys; returns the percentage and branches in force. */
  applyRolloutConfig(
    changes: Record<string, unknown>,
  ): Promise<{ rollout_percentage: number; max_parallel_branches: number; enabled: boolean }>;
  /** The control workflow's live values the rollout acts on. */
  readControlConfig(): Promise<{ rollout_percentage: number; max_parallel_branches: number; enabled: boolean }>;
  /** Sets `speculation_rollout_phase{rollout}` on the worker that runs it (0 when the rollout ends aborted). */
  recordRolloutPhase(input: { rollout: string; phase: number }): Promise<void>;
}
