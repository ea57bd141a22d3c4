/**
 * Typed failures of the chain module. Each is an ApplicationFailure whose `type` a workflow or the CLI
 * can match. Non-retryable ones are raised before anything is sent, so nothing has moved.
 */
import { ApplicationFailure } from '@temporalio/common';

export type ChainFailureType =
  | 'StakeInsufficientFunds'
  | 'WalletInsufficientFunds'
  | 'UnknownAgent'
  | 'InvalidAgentName'
  | 'InvalidTaskId'
  | 'InvalidAmount'
  | 'InvalidStakeConfig'
  | 'BondAgentMismatch'
  | 'AuthorityUnfunded'
  | 'ChainStateLocked'
  | 'InvalidProgram';

/** A permanent error: retrying the same input cannot succeed. */
export function chainFailure(type: ChainFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** An error an operator can fix while Temporal keeps retrying (e.g. funding the authority). */
export function retryableChainFailure(type: ChainFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.retryable(message, type);
}

/** A transaction the chain processed and rejected (as opposed to a transport failure). Retryable by default. */
export class ChainTransactionError extends Error {
  constructor(
    message: string,
    readonly logs: string[] | null,
  ) {
    super(message);
    this.name = 'ChainTransactionError';
  }
}
