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
] as const;
export type SpeculationStatus = (typeof SPECULATION_STATUSES)[number];
export type SpeculationRefusal = Exclude<SpeculationStatus, 'pending' | 'speculative' | 'non_speculative'>;

/** Why a task ended `rolled_back` or `failed`; the `reason` label of `speculation_rollback_total`. */
export const ROLLBACK_REASONS = [
  'parent_failed',
  'parent_rolled_back',
  'confirmation_timeout',
  'proof_failed',
  'proof_timeout',
  /** No proof worker proved it: it waited out the schedule-to-start timeout in the proof backlog, or its worker stopped answering. */
  'proof_unavailable',
  'execution_failed',
  'forced',
] as const;
export type RollbackReason = (typeof ROLLBACK_REASONS)[number];

/**
 * Reasons that are the task's own fault: its bond is slashed. Every other reason releases it in full;
 * `proof_unavailable` is the system's (the agent is answerable for its proof's time, not for a wait).
 */
export const OWN_FAULT_REASONS: readonly RollbackReason[] = ['execution_failed', 'proof_failed', 'proof_timeout'];

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

export interface TaskInput {
  taskId: string;
  type: string;
  payload: unknown;
  agent: string;
  parentTaskId?: string;
  /** The root of the dependency tree (the task itself for a root): lets an operator list a whole tree. */
  rootTaskId: string;
  submittedAt: string;
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
  payload: unknown;
  parent_task_id: string | null;
  root_task_id: string;
  status: TaskStatus;
  speculation_status: SpeculationStatus;
  /** Unconfirmed ancestors when the task speculated (0 when it did not). */
  depth: number;
  dependents: string[];
  /** The executed output with its salt and commitment (field elements as decimal strings). */
  result: TaskOutput | null;
  result_commitment: string | null;
  parent_commitment: string | null;
  bond: BondState | null;
  proof: ProofSummary;
  commit_signature: string | null;
  /** The task whose commitment batch carried this task's commitment (itself when it committed its own batch). */
  committed_by: string | null;
  rollback_reason: RollbackReason | null;
  error: string | null;
  waiting_for: string | null;
  timestamps: Partial<Record<TaskStatus | 'submitted' | 'speculated', string>>;
}
