/**
 * Typed failures of the chain module. Each is an ApplicationFailure whose `type` a workflow or the CLI
 * can match. Non-retryable ones are raised before anything is sent, so nothing has moved.
 */
import { ApplicationFailure } from '@temporalio/common';
import { custodyError } from './custody/errors';

export type ChainFailureType =
  | 'StakeInsufficientFunds'
  | 'WalletInsufficientFunds'
  | 'UnknownAgent'
  | 'InvalidAgentName'
  | 'InvalidTaskId'
  | 'InvalidAmount'
  | 'InvalidStakeConfig'
  | 'BondAgentMismatch'
  /** What is at a task's bond address cannot back this speculation (FAILURE_TYPES.bondUnusable): the task runs without it. */
  | 'BondUnusable'
  /** The task's commit address already holds an authority-signed commitment with other content. */
  | 'CommitmentMismatch'
  | 'AuthorityUnfunded'
  | 'ChainStateLocked'
  | 'InvalidProgram'
  /** The custody program is not on this chain (a cluster needs `agenc admin deploy-program`), or not built. */
  | 'ProgramNotDeployed'
  | 'ProgramNotBuilt'
  | 'ConfigMissing'
  /** The custody program refused the transaction (its error name in the message). */
  | 'CustodyRefused';

/** A permanent error: retrying the same input cannot succeed. `details` go to the caller as the failure's details. */
export function chainFailure(
  type: ChainFailureType,
  message: string,
  details?: Record<string, unknown>,
): ApplicationFailure {
  return details
    ? ApplicationFailure.create({ message, type, nonRetryable: true, details: [details] })
    : ApplicationFailure.nonRetryable(message, type);
}

/** An error an operator can fix while Temporal keeps retrying (e.g. funding the authority). */
export function retryableChainFailure(type: ChainFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.retryable(message, type);
}

/** A transaction the chain processed and rejected (as opposed to a transport failure). Retryable by default. */
export class ChainTransactionError extends Error {
  /** The custody program's refusal, when it was the program that refused (its error name and meaning). */
  readonly custody: ReturnType<typeof custodyError>;

  constructor(
    message: string,
    readonly logs: string[] | null,
  ) {
    const custody = custodyError(`${message}\n${(logs ?? []).join('\n')}`);
    super(custody ? `${message} (custody program: ${custody.name}: ${custody.meaning})` : message);
    this.custody = custody;
    this.name = 'ChainTransactionError';
  }
}
