/**
 * How the task workflow calls its activities: timeouts and retries per kind of step, and the proxies
 * that carry a one-line summary naming the step (what the Web UI's timeline shows).
 */
import {
  ActivityCancellationType,
  type ActivityOptions,
  type LocalActivityOptions,
  proxyActivities,
  proxyLocalActivities,
} from '@temporalio/workflow';
import type { SpeculationConfig } from '../../config/schema';
import { FAILURE_TYPES, type ProofActivities, type TaskActivities } from '../../shared/activity-contract';
import { PROOF_QUEUE, PROOF_VERIFICATION_QUEUE } from '../../shared/task-queues';

// Timeouts are short because a worker that dies mid-activity is only noticed when they expire: then
// Temporal retries the activity on a live worker (every activity here is idempotent).
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s', backoffCoefficient: 2 },
};

/**
 * QUICK as a local activity: run by the workflow's own worker inside the workflow task, recorded as a marker,
 * so it costs no activity task round trip nor a workflow task of its own (the speculative hop's admission).
 * Retries past `localRetryThreshold` wait on a workflow timer instead of in the worker.
 */
export const QUICK_LOCAL: LocalActivityOptions = {
  startToCloseTimeout: '15s',
  retry: QUICK.retry,
  localRetryThreshold: '10s',
};

/** QUICK, but giving up after three attempts: for a read whose absence the caller handles. */
export const QUICK_BOUNDED: ActivityOptions = { ...QUICK, retry: { ...QUICK.retry, maximumAttempts: 3 } };

/** Chain activities are idempotent: retried without limit, never a double transfer. */
export const CHAIN: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    backoffCoefficient: 2,
    nonRetryableErrorTypes: [FAILURE_TYPES.stakeInsufficientFunds],
  },
};

/**
 * CHAIN as a local activity, for the bond lock on the speculative hop's path (local-bond-lock): run inside the
 * admission's workflow task, so the hop pays no activity task round trip nor a workflow task for it. A lock
 * is one transaction (a confirmed send on a real RPC: well within the workflow task's timeout, which the SDK
 * extends while a local activity runs); retries past `localRetryThreshold` wait on a workflow timer. A worker
 * that dies mid-lock loses the result with its workflow task: the next worker runs the lock again, which
 * finds the bond by its content (lockBond is idempotent).
 */
export const CHAIN_LOCAL: LocalActivityOptions = {
  startToCloseTimeout: CHAIN.startToCloseTimeout,
  retry: CHAIN.retry,
  localRetryThreshold: '10s',
};

/**
 * The fast cascade (cascade.ts): a large graph takes a while, so it heartbeats. Three attempts: it only
 * speeds the rollback up, and when it cannot run (the chain or the frontend away) the rollback goes on
 * level by level, each task's own settlement retried like any chain activity.
 */
export const CASCADE: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * An execution error is retried twice (after 1 s, then 2 s) before the task fails on its own fault.
 * The execution heartbeats while it works, so a worker that dies is noticed within the heartbeat
 * timeout, not at the end of start-to-close.
 */
export const EXECUTION: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: '5s',
  retry: {
    maximumAttempts: 3,
    initialInterval: '1s',
    backoffCoefficient: 2,
    nonRetryableErrorTypes: [FAILURE_TYPES.invalidPayload],
  },
};

/**
 * An execution with effects to undo: its cancellation (a rollback) is awaited until the activity has stopped,
 * so the undo cannot run while the execution may still write.
 */
export const EXECUTION_UNDOABLE: ActivityOptions = {
  ...EXECUTION,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/**
 * An undo of a task's effects (a compensation): retried without limit, since a parent must not settle while
 * its dependent's effects may still be in place; it heartbeats, so a worker that dies during it is noticed in
 * seconds and the undo runs again on another.
 */
export const UNDO: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
};

/**
 * Restarting a re-attempt's dependents: retried while one of them is still closing its last run (seconds);
 * bounded, since they can always be restarted by hand (`agenc task retry --subtree`).
 */
export const RESTART: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', maximumInterval: '5s', backoffCoefficient: 2, maximumAttempts: 30 },
};

/**
 * Commits wait for finality once per batch; a batch on a cluster sends one confirmed transaction per result.
 * They heartbeat while they wait, so a worker that dies mid-commit is noticed in seconds, not at start-to-close.
 */
export const COMMIT: ActivityOptions = { ...CHAIN, startToCloseTimeout: '2 minutes', heartbeatTimeout: '10s' };

/**
 * What the proof worker may take on top of `timeout_ms`: its own ProofTimeout (the agent's fault) fires
 * at `timeout_ms` after proving starts, and the margin lets that answer, or a proof finished just in
 * time, reach the server. Start-to-close firing therefore means the worker stopped answering.
 */
const PROOF_ANSWER_MARGIN_MS = 5_000;

/**
 * A proof waits in the `agenc-proofs` backlog, not in a worker, so only proving counts against the
 * agent. The wait itself is bounded by `confirmation_timeout_ms`: as long as a speculative dependent
 * waits for its parent to confirm, since a proof that waits longer holds every dependent past that
 * limit anyway. Schedule-to-start timeouts are not retried; start-to-close and heartbeat timeouts (a
 * worker that died or hung) are, on any other proof worker; every one of them is the system's fault.
 */
function proofOptions(cfg: SpeculationConfig): ActivityOptions {
  return {
    taskQueue: PROOF_QUEUE,
    scheduleToStartTimeout: cfg.speculation.confirmation_timeout_ms,
    startToCloseTimeout: cfg.speculation.proof.timeout_ms + PROOF_ANSWER_MARGIN_MS,
    heartbeatTimeout: '10s',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: [FAILURE_TYPES.proofTimeout] },
  };
}

/** Verification takes tens of milliseconds, on its own queue so that it never waits behind the proof backlog. */
function verificationOptions(cfg: SpeculationConfig): ActivityOptions {
  return {
    taskQueue: PROOF_VERIFICATION_QUEUE,
    scheduleToStartTimeout: cfg.speculation.confirmation_timeout_ms,
    startToCloseTimeout: '15s',
    retry: { maximumAttempts: 3 },
  };
}

/** The task's activities, called with `options`; `summary` names the step in the Web UI. */
export function taskActivities(options: ActivityOptions, summary: string) {
  return proxyActivities<TaskActivities>({ ...options, summary });
}

/** The task's activities as local activities (QUICK_LOCAL), `summary` naming the step. */
export function localTaskActivities(options: LocalActivityOptions, summary: string) {
  return proxyLocalActivities<TaskActivities>({ ...options, summary });
}

/** The proof activities on the `agenc-proofs` queue, with the timeouts the live configuration sets (and a priority, when given). */
export function proofActivities(cfg: SpeculationConfig, summary: string, priorityKey?: number) {
  return proxyActivities<ProofActivities>({
    summary,
    ...proofOptions(cfg),
    ...(priorityKey === undefined ? {} : { priority: { priorityKey } }),
  });
}

/** The verification activity on its own queue. */
export function verificationActivities(cfg: SpeculationConfig, summary: string) {
  return proxyActivities<ProofActivities>({ summary, ...verificationOptions(cfg) });
}
