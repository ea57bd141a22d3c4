/**
 * What a task is, shared by the client, the workflows and the activities. No Node built-ins: the
 * workflow bundle imports this.
 */

export const TASK_STATUSES = [
  'pending',
  'waiting_parent',
  'executing',
  'executed',
  'proving',
  'awaiting_ancestors',
  'committing',
  /** Undoing: dependents roll back first, then this task's compensations run (then failed or rolled_back). */
  'rolling_back',
  'confirmed',
  'failed',
  'rolled_back',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: readonly TaskStatus[] = ['confirmed', 'failed', 'rolled_back'];
/**
 * A task as a markdown link to its workflow's page in the Temporal Web UI (`/namespaces/<ns>/workflows/<id>`
 * opens its latest run), for the summary and details the UI shows: the tree can be walked from any task.
 */
export function taskLink(namespace: string, taskId: string): string {
  return `[\`${taskId}\`](/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(taskWorkflowId(taskId))})`;
}

/** The failure type a task's workflow ends with when the task is not confirmed (failed, rolled back): its details are the final state. */
export const TASK_NOT_CONFIRMED = 'TaskNotConfirmed';

/** How the task ran, or why it was not allowed to speculate. */
export const SPECULATION_STATUSES = [
  'pending',
  'speculative',
  'non_speculative',
  'disabled',
  'not_in_rollout',
  'depth_limit',
  'branch_limit',
  'stake_limit',
  'cooldown',
  'memory_limit',
  'draining',
  /** Its deadline leaves no more than `speculation.claim_buffer_ms`: too little time for a speculation to pay off. */
  'claim_window',
  /** Adaptive speculation lowered the depth: the recent rollback rate was over `adaptive.rollback_rate_high`. */
  'adaptive_depth',
  /** The system is saturated (proof backlog or CPU load over `[speculation.adaptive]`'s limits): deeper than `min_depth` waits. */
  'saturated',
  /** The circuit breaker switched speculation off (a failure storm outside any rollout): `speculation.breaker`. */
  'auto_disabled',
] as const;
export type SpeculationStatus = (typeof SPECULATION_STATUSES)[number];
export type SpeculationRefusal = Exclude<SpeculationStatus, 'pending' | 'speculative' | 'non_speculative'>;

/** Why a task ended `rolled_back` or `failed`; the `reason` label of `speculation_rollback_total`. */
export const ROLLBACK_REASONS = [
  'parent_failed',
  'parent_rolled_back',
  'confirmation_timeout',
  /** Its proof did not verify, or its inputs do not satisfy the circuit (a wrong claimed output): the agent's fault. */
  'proof_failed',
  /** Its proof did not finish within `timeout_ms` of proving: the circuit's size is fixed, so that is the machine's load, not the agent's. */
  'proof_timeout',
  /**
   * The system could not prove or verify it: no proof worker took it within the schedule-to-start timeout,
   * its worker stopped answering, or a proof worker failed (SystemFault: artifacts missing or corrupt, a
   * prover and a verifier with different keys).
   */
  'proof_unavailable',
  /** Its task type failed on its own (TaskExecutionError, e.g. `{"fail": true}`): the agent's fault. */
  'execution_failed',
  /** No worker could run it (SystemFault: a task type or payload schema the workers lack, an error in the task type's code). */
  'execution_unavailable',
  'forced',
  /** The system failed in a way no step expected (a permanent activity error, a commitment that could not land): not the agent's fault. */
  'system_error',
  /**
   * Its submission was not signed by the agent it names (no signature, a bad one, or a key that is not the
   * one registered for that agent): refused before anything was bonded. Not the named agent's fault.
   */
  'submission_refused',
  /** Its deadline (`--deadline`) passed before it was confirmed. Not the agent's fault alone: its bond is released. */
  'claim_expired',
] as const;
export type RollbackReason = (typeof ROLLBACK_REASONS)[number];

/**
 * The reasons that slash: the task's own fault, what the agent controls (its execution's own error, a
 * proof its inputs cannot satisfy). Every other reason releases the bond in full, the system's failures
 * (`proof_unavailable`, `execution_unavailable`, `proof_timeout`) included. The one list of which reasons
 * slash: bondSettlement() and the README's table follow it.
 */
export const OWN_FAULT_REASONS: readonly RollbackReason[] = ['execution_failed', 'proof_failed'];

/**
 * The most dependents one task may have. Each costs its parent's workflow history a registration, the
 * signals that push every change to it and its settlement (test/workflows/scale-limits.test.ts measures
 * it); the server fails a history past 51,200 events, and a parent's pushes to all its dependents at once
 * must stay under its 2,000 pending outgoing signals. This keeps both at no more than half their limit.
 */
export const MAX_DEPENDENTS = 1000;

const TASK_WORKFLOW_PREFIX = 'task-';

export function taskWorkflowId(taskId: string): string {
  return `${TASK_WORKFLOW_PREFIX}${taskId}`;
}

/** The task id behind a task workflow's id, or undefined for any other workflow. */
export function taskIdOfWorkflow(workflowId: string): string | undefined {
  return workflowId.startsWith(TASK_WORKFLOW_PREFIX) ? workflowId.slice(TASK_WORKFLOW_PREFIX.length) : undefined;
}

/** Agent names: they name key files and stake-account seeds, so the same rule holds everywhere. */
export const AGENT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * How a task depends on a parent (one kind per edge; the CLI spells them `ID`, `ID:order`, `ID:confirmed`):
 *
 * | kind | consumes the parent's output | may start on it | under `selective`, the parent's failure |
 * |---|---|---|---|
 * | data | yes (its proof binds the parent's commitment) | once the parent executed (speculatively) | rolls it back |
 * | order | no | once the parent executed (speculatively) | lets it go on, once the parent is final |
 * | confirmed | yes | only once the parent is confirmed (never speculates on it) | rolls it back |
 */
export const DEPENDENCY_KINDS = ['data', 'order', 'confirmed'] as const;
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

/** One edge of the task graph, as the dependent names it. */
export interface TaskDependency {
  taskId: string;
  kind: DependencyKind;
}

/** The kinds whose parent's output the task consumes: what its proof and its on-chain record name. */
export function consumesOutput(kind: DependencyKind): boolean {
  return kind !== 'order';
}

/**
 * The most parents a task may have, whatever `speculation.limits.max_parents` says: the join circuit's
 * parent slots (circuits/task-join.circom), each proven filled with a parent's commitment or empty.
 */
export const MAX_PARENT_SLOTS = 8;

export interface TaskInput {
  taskId: string;
  type: string;
  payload: unknown;
  agent: string;
  /** The first parent (absent for a root): what runs started before task graphs knew as the one parent. */
  parentTaskId?: string;
  /** Every parent with its edge's kind, in the submission's order. Absent in runs started before task graphs: `parentTaskId` is then their one data parent. */
  parents?: TaskDependency[];
  /** The root of the dependency tree (the task itself for a root): lets an operator list a whole tree. */
  rootTaskId: string;
  submittedAt: string;
  /**
   * The agent's public key (base58), which must be the one registered for `agent`. Absent only in runs
   * started before submissions were signed (those are not verified).
   */
  agentPublicKey?: string;
  /**
   * The agent's ed25519 signature (base58) over the submission's canonical message
   * (activities/submission.ts: task id, type, payload hash, parents, agent, public key), verified before
   * anything is bonded.
   */
  submissionSignature?: string;
  /**
   * When the task must be confirmed by (ISO time), if it has a deadline: it speculates only while the time
   * left exceeds `speculation.claim_buffer_ms`, and rolls back (`claim_expired`) if the deadline passes first.
   */
  deadline?: string;
  /**
   * Its task type declares an undo of its effects outside the system (the registry, asked at submission): the
   * undo is registered as a compensation before the execution. Absent: the type has none.
   */
  undoable?: boolean;
  /** Which attempt of the task this run is (absent: the first). */
  attempt?: number;
  /** How the earlier attempts ended, oldest first. */
  previousAttempts?: AttemptOutcome[];
  /**
   * The previous attempt's dependents: those rolled back by its failure start their next attempt with this one
   * (and theirs, in turn). Set by the `checkpoint` policy and `agenc task retry --subtree`.
   */
  restartDependents?: string[];
  /** Wait this long before starting (the `checkpoint` policy's backoff). */
  retryDelayMs?: number;
}

/** A task's parents: its input's list, or the one data parent of a run started before task graphs. */
export function dependenciesOf(input: Pick<TaskInput, 'parentTaskId' | 'parents'>): TaskDependency[] {
  if (input.parents) return input.parents;
  return input.parentTaskId === undefined ? [] : [{ taskId: input.parentTaskId, kind: 'data' }];
}

/** An edge as the CLI spells it: `ID` for data, `ID:order`, `ID:confirmed`. */
export function dependencySpec(d: TaskDependency): string {
  return d.kind === 'data' ? d.taskId : `${d.taskId}:${d.kind}`;
}

/** What a task's proof must say of its parents: every consumed commitment, or (states from before task graphs) the one parent's. */
export function parentCommitmentsOf(
  state: Pick<TaskState, 'parent_commitment' | 'parent_commitments'>,
): { parentCommitments: string[] } | { parentCommitment: string } {
  return state.parent_commitments
    ? { parentCommitments: state.parent_commitments }
    : { parentCommitment: state.parent_commitment ?? '0' };
}

/** A task's executed result as its dependents receive it. Field elements travel as decimal strings. */
export interface TaskOutput {
  output: string;
  salt: string;
  commitment: string;
}

export interface BondState {
  address: string;
  amount: number;
  state: 'locked' | 'released' | 'slashed';
  slashed?: number;
  returned?: number;
  /** When its release or slash was final. */
  settled_at?: string;
  /** The cascade origin whose batch released it, when it was not this task's own settlement. */
  settled_by?: string;
}

/** How one attempt of a task ended. */
export interface AttemptOutcome {
  attempt: number;
  status: TaskStatus;
  rollback_reason: RollbackReason | null;
  bond: BondState | null;
  error: string | null;
  /** When it ended (ISO time). */
  ended_at: string;
}

/**
 * The task's effects outside the system and their undo. `registered`: the undo runs if the task rolls back;
 * `undone`: it ran (`detail` says what it undid, `at` when); `kept`: the task confirmed, its effects stay;
 * `not_declared`: its type has no undo, so whatever it did outside stays on a rollback (the README lists
 * the types).
 */
export interface UndoState {
  state: 'not_declared' | 'registered' | 'undone' | 'kept' | 'failed';
  detail?: string;
  at?: string;
}

/** An UndoState in words, as `agenc task status` and the Web UI say it. */
export function describeUndo(undo: UndoState): string {
  switch (undo.state) {
    case 'not_declared':
      return 'not undone: its type declares no undo (anything it did outside the system stays)';
    case 'registered':
      return 'to be undone if it rolls back';
    case 'undone':
      return `undone at ${undo.at}: ${undo.detail}`;
    case 'kept':
      return 'kept (confirmed)';
    case 'failed':
      return `undo FAILED at ${undo.at}: ${undo.detail}`;
  }
}

export interface ProofSummary {
  state: 'none' | 'generating' | 'generated' | 'verified' | 'failed';
  verification_key_hash?: string;
  duration_ms?: number;
  error?: string;
}

export interface TaskState {
  task_id: string;
  workflow_id: string;
  type: string;
  agent: string;
  /**
   * The agent's public key (base58), once the submission's signature verified against the key registered
   * for the agent; the proof binds it. Null until then, and in runs started before submissions were signed.
   */
  agent_public_key: string | null;
  payload: unknown;
  /** The first parent (null for a root); every parent is in `parents`. */
  parent_task_id: string | null;
  /** Every parent and its edge's kind. Absent in states of runs started before task graphs: `parent_task_id` is their one data parent. */
  parents?: Array<{ task_id: string; kind: DependencyKind }>;
  root_task_id: string;
  status: TaskStatus;
  speculation_status: SpeculationStatus;
  /** Unconfirmed ancestors when the task speculated (0 when it did not). */
  depth: number;
  dependents: string[];
  /** The executed output with its salt and commitment (field elements as decimal strings). */
  result: TaskOutput | null;
  result_commitment: string | null;
  /** The first consumed parent's commitment (null when it consumes none); every one is in `parent_commitments`. */
  parent_commitment: string | null;
  /** The commitments of the results it consumed (data and confirmed parents, in order): what its proof binds. Absent in older states. */
  parent_commitments?: string[];
  bond: BondState | null;
  proof: ProofSummary;
  commit_signature: string | null;
  /** The task whose commitment batch carried this task's commitment (itself when it committed its own batch). */
  committed_by: string | null;
  rollback_reason: RollbackReason | null;
  /**
   * Every parent failure it heard, once per parent, in order: the first is the one it rolled back for (a
   * task reached by two failing parents rolls back once); under `selective` an order parent's failure
   * is here too, though the task went on. Absent in older states.
   */
  rollback_causes?: Array<{ task_id: string; reason: RollbackReason }>;
  /** An operator's rollback (`forced`): the reason given and when. Absent in older states and without one. */
  forced_rollback?: { reason: string; at: string } | null;
  error: string | null;
  waiting_for: string | null;
  /** Which attempt of the task this run is: 1, then one more for each re-attempt. Absent in older states (1). */
  attempt?: number;
  /** What the earlier attempts ended as, oldest first (empty for the first). Absent in older states. */
  previous_attempts?: AttemptOutcome[];
  /** This attempt ended, and the next starts (the `checkpoint` policy): not final for a waiter. */
  retry?: { attempt: number; delay_ms: number } | null;
  /** Its effects outside the system and their undo, once it started executing (null before). Absent in older states. */
  undo?: UndoState | null;
  /** The deadline it must be confirmed by (ISO time); null when it has none. Absent in older states. */
  deadline?: string | null;
  timestamps: Partial<Record<TaskStatus | 'submitted' | 'speculated', string>>;
}
