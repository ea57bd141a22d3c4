/**
 * The failure an activity reports when the system failed, not the agent: an ApplicationFailure of
 * type `SystemFault` (FAILURE_TYPES.systemFault), which the task workflow never slashes
 * (workflows/task-decisions.ts classifyProofFailure / classifyExecutionFailure). Used by the proof
 * activities (artifacts missing or corrupt, a proof made with another key, a full queue, anything
 * unexpected in the prover) and by executeTask (a task type or payload schema this worker lacks).
 *
 * The message says what failed and where: the underlying error type, the worker (Temporal's default
 * identity, `pid@host`), then the underlying message (which artifact, which key hashes, which type).
 */
import * as os from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../../shared/activity-contract';

/** This process as Temporal names a worker by default (`pid@host`). */
export function workerIdentity(): string {
  return `${process.pid}@${os.hostname()}`;
}

export interface SystemFaultDetails {
  /** The underlying failure: a ProofError type (`ProofArtifactMissing`, `ProofKeyMismatch`, …), `UnknownTaskType`, … */
  fault: string;
  /** `proof worker` or `task worker`. */
  component: string;
  worker: string;
  [key: string]: unknown;
}

/**
 * A `SystemFault`. Retryable unless said otherwise: another worker (or this one, once repaired) may
 * succeed where this one failed, and the workflow's retry policy bounds the attempts.
 */
export function systemFault(opts: {
  fault: string;
  component: 'proof worker' | 'task worker';
  message: string;
  cause?: unknown;
  retryable?: boolean;
  details?: Record<string, unknown>;
}): ApplicationFailure {
  const worker = workerIdentity();
  const details: SystemFaultDetails = { fault: opts.fault, component: opts.component, worker, ...opts.details };
  return ApplicationFailure.create({
    type: FAILURE_TYPES.systemFault,
    message: `${opts.fault} on ${opts.component} ${worker} (the system's fault, not the agent's): ${opts.message}`,
    nonRetryable: opts.retryable === false,
    cause: opts.cause instanceof Error ? opts.cause : undefined,
    details: [details],
  });
}
