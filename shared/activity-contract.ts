/**
 * The activities as the workflows see them: names, inputs and results. The worker binds each name
 * to its implementation (activities/). Workflows import this as types only.
 */
import type { SpeculationConfig, StakeConfig } from '../config/schema';
import type { SpeculationDecision, SpeculationRequest } from './messages';
import type { TaskInput, TaskOutput, TaskState } from './task-model';
import type { LockBondResult, SettleBondResult } from './stake-records';
import type { CascadeRollbackInput, CascadeRollbackResult } from './cascade-records';
import type { CommitEntry, GenerateProofInput, ProofRecord, VerifyProofInput, VerifyResult } from './proof-records';

/** What `verifySubmission` checks: the signed fields of a task's input, its public key and signature. */
export type SubmissionToVerify = Pick<
  TaskInput,
  'taskId' | 'type' | 'payload' | 'agent' | 'parentTaskId' | 'parents' | 'agentPublicKey' | 'submissionSignature'
>;

/** Why a submission was refused: no signature, a malformed key, a signature that does not verify, an agent with no registered key, a key that is not the agent's. */
export type SubmissionRefusalCode =
  'missing_signature' | 'malformed_public_key' | 'bad_signature' | 'unknown_agent' | 'not_agents_key';

export type SubmissionVerdict =
  { valid: true; agentPublicKey: string } | { valid: false; code: SubmissionRefusalCode; reason: string };

/** Activities on `agenc-tasks`. */
export interface TaskActivities {
  /**
   * Is the submission signed by the agent it names? Its signature must verify against its public key over
   * the canonical message (activities/submission.ts), and that key must be the one registered for the agent
   * (its wallet in the worker's key store). A bad submission is a verdict, not a failure; a key store the
   * worker cannot read is a retryable SystemFault.
   */
  verifySubmission(input: SubmissionToVerify): Promise<SubmissionVerdict>;
  getSpeculationConfig(): Promise<SpeculationConfig>;
  admitSpeculation(request: Omit<SpeculationRequest, 'workerMemoryMb'>): Promise<SpeculationDecision>;
  /** Runs the task type's function; `proofValue` is the private input the type's circuit proves it with. */
  executeTask(input: {
    taskId: string;
    type: string;
    payload: unknown;
    /** The outputs of the parents the task consumes, in order ([] for a root). */
    parentOutputs?: string[];
    /** The one parent's output ("0" for a root), as workflows started before task graphs send it; used when parentOutputs is absent. */
    parentOutput?: string;
    /** Which attempt of the task this is (absent: the first). */
    attempt?: number;
  }): Promise<TaskOutput & { proofValue: string }>;
  /**
   * Runs the task type's undo of its effects outside the system (a rollback's compensation): idempotent,
   * retried; `output` is null when the execution never answered. Says what it undid, or null when the type
   * has none.
   */
  undoTask(input: {
    taskId: string;
    type: string;
    payload: unknown;
    attempt: number;
    output: string | null;
  }): Promise<{ undone: string } | null>;
  getTaskOutcome(taskId: string): Promise<TaskState>;
  /**
   * A task's next attempt restarts its previous attempt's dependents that rolled back for its failure (each
   * with its own dependents in turn): idempotent, retried while one of them is still closing.
   */
  restartDependents(input: { taskId: string; attempt: number; dependents: string[] }): Promise<{
    restarted: Array<{ taskId: string; attempt: number }>;
    left: string[];
  }>;
  /** Which of these tasks have no running workflow (finished, terminated, or never started). */
  findClosedTasks(taskIds: string[]): Promise<string[]>;
  lockBond(input: {
    taskId: string;
    agent: string;
    depth: number;
    stake: Pick<StakeConfig, 'min_stake' | 'max_stake' | 'stake_per_depth'>;
  }): Promise<LockBondResult>;
  releaseBond(input: { taskId: string; agent: string; reason: string }): Promise<SettleBondResult>;
  slashBond(input: {
    taskId: string;
    agent: string;
    slashPercentage: number;
    reason: string;
  }): Promise<SettleBondResult>;
  /** Releases these bonds in the order given, batched into as few transactions as fit; once final. */
  releaseBonds(input: { bonds: Array<{ taskId: string; agent: string }>; reason: string }): Promise<SettleBondResult[]>;
  /**
   * The fast cascade of a failed task (activities/cascade-activities.ts): its descendants join at once,
   * their bonds are released deepest first in batches, and each hears its verdict.
   */
  cascadeRollback(input: CascadeRollbackInput): Promise<CascadeRollbackResult>;
  /**
   * Puts proven results on-chain in the order given (ancestors first), each after the one before has
   * landed, and returns once the last has landed (not yet final). Idempotent per task: a result already
   * committed keeps its first signature.
   */
  sendCommitments(input: { entries: CommitEntry[] }): Promise<{ signatures: Record<string, string> }>;
  /** Returns once these landed commitments are final. */
  awaitFinality(input: { signatures: Record<string, string> }): Promise<void>;
  /**
   * `sendCommitments` then `awaitFinality` in one activity: what workflows started before pipelined
   * commitments still schedule.
   */
  commitResults(input: { entries: CommitEntry[] }): Promise<{ signatures: Record<string, string> }>;
}

/**
 * Activities of the proof worker (activities/proof/proof-activities.ts implements them): `generateProof` on
 * `agenc-proofs`, `verifyProof` on `agenc-proof-verification` (shared/task-queues.ts).
 */
export interface ProofActivities {
  generateProof(input: GenerateProofInput): Promise<ProofRecord>;
  verifyProof(input: VerifyProofInput): Promise<VerifyResult>;
}

/** Failure type names a workflow matches on (ApplicationFailure.type). */
export const FAILURE_TYPES = {
  executionFailed: 'ExecutionFailed',
  invalidPayload: 'InvalidPayload',
  stakeInsufficientFunds: 'StakeInsufficientFunds',
  proofTimeout: 'ProofTimeout',
  tooManyPending: 'TooManyPendingOperations',
  /** A bond that cannot back this speculation (settled before, or not what the authority locked for it): the task runs non-speculatively. */
  bondUnusable: 'BondUnusable',
  /** The system failed, not the agent (proof artifacts missing or corrupt, proof workers with different keys, a task type this worker lacks): never slashed. */
  systemFault: 'SystemFault',
} as const;
