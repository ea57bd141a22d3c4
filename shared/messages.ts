/**
 * Every signal, query and update, defined once; the client, the admin API and the workflows import
 * these. No Node built-ins: the workflow bundle imports this.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SpeculationConfig } from '../config/schema';
import type { CommitEntry, ProofRecord } from './proof-records';
import type { RollbackReason, SpeculationRefusal, TaskInput, TaskOutput, TaskState, TaskStatus } from './task-model';
import type { Decision, PhaseStatus, RolloutStatus } from './rollout-model';
import type { BreakerReason, BreakerState } from '../workflows/breaker-decisions';

// ── speculativeTask ────────────────────────────────────────────────────────────────────────────────

/** A dependent tells its parent it exists; the parent answers with its current state, even late. */
export const registerDependentSignal = defineSignal<[{ taskId: string }]>('registerDependent');

/** The parent executed; `pendingAncestors` is the number of unconfirmed ancestors of the parent itself. */
export interface ParentExecuted extends TaskOutput {
  parentTaskId: string;
  agent: string;
  pendingAncestors: number;
}
export const parentExecutedSignal = defineSignal<[ParentExecuted]>('parentExecuted');
/** The parent's count of unconfirmed ancestors changed (an ancestor above it confirmed). */
export const parentProgressSignal =
  defineSignal<[{ parentTaskId: string; pendingAncestors: number }]>('parentProgress');
/** The commitment batch that carried a task's commitment: who sent it, and every task's signature in it. */
export interface CommitBatch {
  owner: string;
  signatures: Record<string, string>;
}
/** The parent is confirmed; `batch` is the commitment batch that carried it, which may carry the dependent too. */
export type ParentConfirmed = TaskOutput & { parentTaskId: string; batch?: CommitBatch };
export const parentConfirmedSignal = defineSignal<[ParentConfirmed]>('parentConfirmed');
/**
 * The parent's commitment has landed on-chain, not yet final (past its point of no return): a proven
 * dependent may now send its own, which lands after it; `batch` is the batch that carried the parent's,
 * which may carry the dependent's too.
 */
export const parentCommittedSignal = defineSignal<[{ parentTaskId: string; batch: CommitBatch }]>('parentCommitted');
/**
 * The parent is committing now (past its point of no return): a dependent that is proven and waits only
 * for its ancestors answers with `commitsReady`, and from then on is committing too.
 */
export const gatherCommitsSignal = defineSignal<[{ parentTaskId: string }]>('gatherCommits');
/** A dependent's answer to `gatherCommits`: its own entry then its proven descendants', ancestors first; empty when not ready. */
export const commitsReadySignal = defineSignal<[{ taskId: string; entries: CommitEntry[] }]>('commitsReady');
export const parentRolledBackSignal =
  defineSignal<[{ parentTaskId: string; reason: RollbackReason }]>('parentRolledBack');
/** A dependent has reached a final state; lets a rolling-back parent compensate after its subtree (deepest first). */
export const dependentSettledSignal = defineSignal<[{ taskId: string; status: string }]>('dependentSettled');
export const forceRollbackSignal = defineSignal<[{ reason?: string }]>('forceRollback');
/** An operator's rollback of one task (`agenc task rollback`), answered with what will happen. */
export interface RollbackAnswer {
  accepted: boolean;
  status: TaskStatus;
  /** Why it was not accepted: final, past its point of no return, or already rolling back. */
  why?: string;
}
export const requestRollbackUpdate = defineUpdate<RollbackAnswer, [{ reason: string }]>('requestRollback');
export const taskStateQuery = defineQuery<TaskState>('taskState');
/** The run's input: what its next attempt starts from (agenc task retry, the `checkpoint` policy's restarts). */
export const taskInputQuery = defineQuery<TaskInput>('taskInput');

/**
 * A cascade's origin (the task whose failure starts it) asks a descendant to roll back in its cascade
 * (workflows/task/cascade.ts): `cause` is the parent it rolls back for, `reason` what it heard of it.
 */
export interface CascadeJoin {
  origin: string;
  cause: string;
  reason: RollbackReason;
}
/**
 * Joined: it rolls back and leaves its bond to the origin's batch (`bondLocked`: it holds one), its
 * dependents as they are now. Not joined: it is final, committing, or already rolling back otherwise.
 */
export type CascadeAnswer =
  | {
      joined: true;
      agent: string;
      bondLocked: boolean;
      dependents: string[];
      /** It has effects to undo: it settles itself after its dependents (so theirs are undone first), not in the batch. */
      undoPending?: boolean;
      /** Its attempt, when not the first: the bond to release is that attempt's. */
      attempt?: number;
    }
  | { joined: false; final: boolean; status: string; why: string };
export const joinCascadeUpdate = defineUpdate<CascadeAnswer, [CascadeJoin]>('joinCascade');
/**
 * The origin's word to a task that joined: its bond was released in the origin's batch (`settled`,
 * with the transaction), and which of its dependents need not be waited for; or, not settled, that it
 * settles its bond itself after its dependents, as a rollback without a cascade does.
 */
export interface CascadeVerdict {
  origin: string;
  settled: boolean;
  bond?: { signature: string | null; settledAt: string };
  settledDependents: string[];
}
export const cascadeSettledSignal = defineSignal<[CascadeVerdict]>('cascadeSettled');
export const proofRecordQuery = defineQuery<ProofRecord | null>('proofRecord');

// ── speculationControl ─────────────────────────────────────────────────────────────────────────────

export const CONTROL_WORKFLOW_ID = 'speculation-control';

export interface SpeculationRequest {
  taskId: string;
  parentTaskId: string;
  agent: string;
  depth: number;
  /** The parent's agent, for the cross-agent rule. */
  parentAgent: string;
  /** A join's other unconfirmed parents and their agents: each is checked as `parentTaskId` is (branches, cross-agent). */
  otherParents?: Array<{ taskId: string; agent: string }>;
  /** Resident memory of the worker deciding, in MB. */
  workerMemoryMb: number;
  /** Proofs waiting in `agenc-proofs` as the worker last read it (system-wide); absent in older requests. */
  proofBacklog?: number;
  /** The worker machine's one-minute load average per core; absent in older requests. */
  loadPerCore?: number;
}
const REQUEST_FIELDS: Record<
  Exclude<keyof SpeculationRequest, 'otherParents' | 'proofBacklog' | 'loadPerCore'>,
  { allowed: string; ok: (v: unknown) => boolean }
> = {
  taskId: { allowed: 'a non-empty string', ok: (v) => typeof v === 'string' && v !== '' },
  parentTaskId: { allowed: 'a non-empty string', ok: (v) => typeof v === 'string' && v !== '' },
  agent: { allowed: 'a non-empty string', ok: (v) => typeof v === 'string' && v !== '' },
  parentAgent: { allowed: 'a non-empty string', ok: (v) => typeof v === 'string' && v !== '' },
  depth: { allowed: 'a whole number >= 0', ok: (v) => Number.isInteger(v) && (v as number) >= 0 },
  workerMemoryMb: { allowed: 'a number >= 0', ok: (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 },
};

/**
 * What is wrong with one `admitSpeculations` request, field by field; empty when it is well formed. The
 * control workflow's validator refuses a request with problems before it enters history, so a
 * malformed request can never be counted as an active speculative task.
 */
export function speculationRequestProblems(req: unknown): string[] {
  if (req === null || typeof req !== 'object' || Array.isArray(req))
    return [`the request = ${JSON.stringify(req)} must be an object`];
  const problems = Object.entries(REQUEST_FIELDS).flatMap(([field, rule]) => {
    const value = (req as Record<string, unknown>)[field];
    return rule.ok(value)
      ? []
      : [`${field} = ${value === undefined ? 'missing' : JSON.stringify(value)} must be ${rule.allowed}`];
  });
  for (const field of ['proofBacklog', 'loadPerCore'] as const) {
    const value = (req as Record<string, unknown>)[field];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0))
      problems.push(`${field} = ${JSON.stringify(value)} must be a number >= 0 (or absent)`);
  }
  const others = (req as Record<string, unknown>).otherParents;
  const nonEmpty = (v: unknown) => typeof v === 'string' && v !== '';
  if (
    others !== undefined &&
    !(Array.isArray(others) && others.every((o: Record<string, unknown>) => nonEmpty(o?.taskId) && nonEmpty(o?.agent)))
  )
    problems.push(`otherParents = ${JSON.stringify(others)} must be a list of {taskId, agent} with non-empty strings`);
  return problems;
}

export type SpeculationVerdict = { allowed: true } | { allowed: false; reason: SpeculationRefusal; detail: string };
/** A verdict with the configuration it was made under (the task runs on with that configuration). */
export type SpeculationDecision = SpeculationVerdict & { config: SpeculationConfig };

export interface ControlStatus {
  enabled: boolean;
  paused: boolean;
  draining: boolean;
  rollout_percentage: number;
  active_tasks: number;
  /** Admitted tasks not yet final: what `max_pending_operations` limits. */
  open_tasks: number;
  pending_rollbacks: number;
  active: Array<{ taskId: string; parentTaskId: string; otherParentTaskIds?: string[]; agent: string; depth: number }>;
  cooldowns: Record<string, string>;
  config: SpeculationConfig;
  config_version: number;
  updated_at: string;
  /** Keys of the stored configuration that this build's schema refuses: they fell back to their defaults. */
  config_problems: string[];
  /** Adaptive speculation: the depth in force and the evidence it was last judged on (absent from older runs). */
  adaptive?: AdaptiveStatus;
  /** The circuit breaker: why and until when speculation switched itself off; null while armed (absent from older runs). */
  auto_disabled?: { reason: BreakerReason; detail: string; at: string; until: string } | null;
}

/** What adaptive speculation holds: the depth it allows and the ended speculations since it last changed. */
export interface AdaptiveState {
  /** The depth in force: between `adaptive.min_depth` and `max_depth`. */
  depth: number;
  /** Speculations ended since the depth last changed, and how many of them did not confirm. */
  ended: number;
  rolledBack: number;
}
export interface AdaptiveStatus extends AdaptiveState {
  enabled: boolean;
  /** rolledBack / ended, or null before any ended. */
  rollback_rate: number | null;
}

export const setConfigUpdate = defineUpdate<ControlStatus, [Record<string, unknown>]>('setConfig');
export const replaceConfigUpdate = defineUpdate<ControlStatus, [Record<string, unknown>]>('replaceConfig');
/**
 * Submissions ask for `max_pending_operations` slots before their workflows start, several at once: the
 * server allows only a few Updates in flight per workflow, so a client sends its pending admissions
 * together (temporal/control.ts). One answer per task id, in order.
 */
export type TaskAdmission =
  | { admitted: true; /** false when this task id already held a slot (a retried submission) */ reserved: boolean }
  | { admitted: false; message: string };
export const admitTasksUpdate = defineUpdate<TaskAdmission[], [{ taskIds: string[] }]>('admitTasks');
/** At most this many task ids in one `admitTasks` Update. */
export const MAX_ADMISSION_BATCH = 500;
/** A task is final (or its workflow never started): its admission slot is free. */
export const taskClosedSignal = defineSignal<[{ taskId: string; status: string }]>('taskClosed');
/**
 * Tasks ask to speculate, several at once (a worker process sends its tasks' requests together, see
 * temporal/control.ts): one verdict per request, in order, and the configuration they were made under.
 */
export const admitSpeculationsUpdate = defineUpdate<
  { config: SpeculationConfig; verdicts: SpeculationVerdict[] },
  [{ requests: SpeculationRequest[] }]
>('admitSpeculations');
/** At most this many requests in one `admitSpeculations` Update. */
export const MAX_SPECULATION_BATCH = 500;
/** An operator re-enables speculation after the circuit breaker switched it off; `reason` is logged. */
export const enableSpeculationUpdate = defineUpdate<ControlStatus, [{ reason: string }]>('enableSpeculation');
export const speculationEndedSignal = defineSignal<[{ taskId: string; outcome: string }]>('speculationEnded');
export const agentSlashedSignal = defineSignal<[{ agent: string; taskId: string }]>('agentSlashed');
export const drainSignal = defineSignal('drain');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Operator: every active speculative task rolls back (the task workflow's own `forceRollback` rolls back one). */
export const forceRollbackAllSignal = defineSignal('forceRollbackAll');
/** The name `forceRollbackAll` had before it got its own: still heeded, so a signal sent by an older client is not lost. */
export const forceRollbackAllLegacySignal = defineSignal('forceRollback');
export const controlStatusQuery = defineQuery<ControlStatus>('status');

/**
 * The control workflow's whole state, as it crosses continue-as-new; also what a run that closed (failed,
 * terminated) is restored from, read by querying it after it closed.
 */
export interface ControlSnapshot {
  /** The configuration as written (file + environment + live changes), before presets: a later mode change still brings its preset. */
  rawConfig: Record<string, unknown>;
  active?: Array<{ taskId: string; parentTaskId: string; otherParentTaskIds?: string[]; agent: string; depth: number }>;
  /** Task id → epoch ms of its admission, for every task admitted and not yet final. */
  open?: Record<string, number>;
  /** Agent → epoch ms until which it may not speculate. */
  cooldowns?: Record<string, number>;
  pendingRollbacks?: string[];
  draining?: boolean;
  paused?: boolean;
  configVersion?: number;
  cleanupCursor?: string;
  adaptive?: AdaptiveState;
  breaker?: BreakerState;
}
export const controlSnapshotQuery = defineQuery<ControlSnapshot>('snapshot');

// ── rollout and rolloutPhase ───────────────────────────────────────────────────────────────────────

/** Same names on the rollout and on each phase; the rollout forwards them to its current phase. */
export const rolloutPauseSignal = defineSignal('pause');
export const rolloutResumeSignal = defineSignal('resume');
/** Skip the rest of the current phase's window and proceed; or proceed from a halted or paused state. */
export const rolloutApproveSignal = defineSignal('approve');
/** Stop: rollout_percentage goes to 0 and the rollout ends as aborted. */
export const rolloutAbortSignal = defineSignal<[{ reason?: string }?]>('abort');
export const rolloutStatusQuery = defineQuery<RolloutStatus>('status');
export const phaseStatusQuery = defineQuery<PhaseStatus>('status');
/** Phase → rollout: a decision was taken (the rollout's status shows every one). */
export const phaseDecisionSignal = defineSignal<[{ decision: Decision; status: PhaseStatus }]>('phaseDecision');
