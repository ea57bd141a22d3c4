/**
 * The activities as the workflows see them: names, inputs and results. The worker binds each name
 * to its implementation (activities/). Workflows import this as types only.
 */
import type { SpeculationConfig, StakeConfig } from '../config/schema';
import type { SpeculationDecision, SpeculationRequest } from './messages';
import type { TaskOutput, TaskState } from './task-model';

/** The proof record kept in workflow history and served by `agenc proof get`. */
export interface ProofRecord {
  proof_type: 'groth16';
  proof: unknown;
  public_signals: string[];
  verification_key_hash: string;
  commitments: { output: string; parent: string };
  task_id: string;
  agent: string;
  timing: { started_at: string; finished_at: string; duration_ms: number };
}

export interface LockBondResult {
  taskId: string;
  agent: string;
  bondAddress: string;
  amount: number;
  signature: string | null;
  alreadyLocked: boolean;
}

export interface SettleBondResult {
  signature: string | null;
  alreadySettled: boolean;
  slashed?: number;
  returned?: number;
}

/** Activities on `agenc-tasks`. */
export interface TaskActivities {
  getSpeculationConfig(): Promise<SpeculationConfig>;
  admitSpeculation(request: Omit<SpeculationRequest, 'workerMemoryMb'>): Promise<SpeculationDecision>;
  /** Runs the task type's function; `proofValue` is the private input the type's circuit proves it with. */
  executeTask(input: { taskId: string; type: string; payload: unknown; parentOutput: string }): Promise<TaskOutput & { proofValue: string }>;
  getTaskOutcome(taskId: string): Promise<TaskState>;
  lockBond(input: { taskId: string; agent: string; depth: number; stake: Pick<StakeConfig, 'min_stake' | 'max_stake' | 'stake_per_depth'> }): Promise<LockBondResult>;
  releaseBond(input: { taskId: string; agent: string; reason: string }): Promise<SettleBondResult>;
  slashBond(input: { taskId: string; agent: string; slashPercentage: number; reason: string }): Promise<SettleBondResult>;
  commitResult(input: { taskId: string; agent: string; commitment: string; parentCommitment: string; verificationKeyHash: string }): Promise<{ signature: string }>;
}

export interface GenerateProofInput {
  taskId: string;
  agent: string;
  value: string;
  parentOutput: string;
  parentSalt: string;
  parentCommitment: string;
  output: string;
  salt: string;
}

/** Activities on `agenc-proofs`. */
export interface ProofActivities {
  generateProof(input: GenerateProofInput): Promise<ProofRecord>;
  verifyProof(input: {
    record: ProofRecord;
    expected: { taskId: string; agent: string; outputCommitment: string; parentCommitment: string };
  }): Promise<{ valid: boolean; reason?: string }>;
}

/** Failure type names a workflow matches on (ApplicationFailure.type). */
export const FAILURE_TYPES = {
  executionFailed: 'ExecutionFailed',
  invalidPayload: 'InvalidPayload',
  stakeInsufficientFunds: 'StakeInsufficientFunds',
  proofTimeout: 'ProofTimeout',
} as const;
