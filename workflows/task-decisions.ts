/**
 * What `speculativeTask` decides, as pure functions of what it knows: what its dependents hear (and how
 * many unconfirmed ancestors they have), whether a rollback still takes effect, whether it proves before
 * its parent is confirmed, whether it may join a committing parent's batch, which dependents it still
 * waits for, why it ended, how its bond is settled, how it ends, and how a failure is classified. The workflow holds the state and runs the
 * steps; tests call these directly (test/workflows/task-decisions.test.ts).
 *
 * Imported by workflow code: no Node built-ins.
 */
import { ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../shared/activity-contract';
import type { RollbackPolicy } from '../config/schema';
import {
  type AttemptOutcome,
  type DependencyKind,
  FINAL_STATUSES,
  OWN_FAULT_REASONS,
  type RollbackReason,
  type TaskState,
  type TaskStatus,
} from '../shared/task-model';

/** What a dependent hears about its parent now: sent when it registers and on every change. */
export type ParentNews =
  | { kind: 'rolled_back'; reason: Extract<RollbackReason, 'parent_failed' | 'parent_rolled_back'> }
  | { kind: 'confirmed' }
  | { kind: 'executed' }
  | { kind: 'nothing_yet' };

export function newsForDependents(t: {
  status: TaskStatus;
  hasResult: boolean;
  ownFault: boolean;
  rollbackRequested: boolean;
}): ParentNews {
  if (t.ownFault || t.status === 'failed') return { kind: 'rolled_back', reason: 'parent_failed' };
  if (t.rollbackRequested || t.status === 'rolled_back') return { kind: 'rolled_back', reason: 'parent_rolled_back' };
  if (!t.hasResult) return { kind: 'nothing_yet' };
  return t.status === 'confirmed' ? { kind: 'confirmed' } : { kind: 'executed' };
}

/**
 * This task's unconfirmed ancestors: its parent and the parent's own, until the parent is confirmed. A
 * dependent that speculates on this task does so at depth 1 + this count.
 */
export function unconfirmedAncestors(t: {
  hasParent: boolean;
  parentConfirmed: boolean;
  parentPending: number;
}): number {
  return t.hasParent && !t.parentConfirmed ? 1 + t.parentPending : 0;
}

/**
 * What a parent's failure does to its dependent, by the edge's kind and the rollback policy: a consumed
 * result (data, confirmed) always rolls the dependent back; an order edge rolls it back under `cascade`
 * and lets it go on under `selective`. `undecided` until the dependent has read its configuration.
 */
export function parentFailureEffect(
  kind: DependencyKind,
  policy: RollbackPolicy | undefined,
): 'roll_back' | 'go_on' | 'undecided' {
  if (kind !== 'order') return 'roll_back';
  if (!policy) return 'undecided';
  return policy === 'selective' ? 'go_on' : 'roll_back';
}

/**
 * Whether a change in the parent's ancestors is passed on to the dependents: only once they can have
 * heard of this task as executed, and not once it is final (they hear the final news instead).
 */
export function passesOnProgress(t: { status: TaskStatus; hasResult: boolean }): boolean {
  return t.hasResult && !FINAL_STATUSES.includes(t.status);
}

/**
 * Only the first request counts, and none once the task is final or committing (past its point of no
 * return), nor once its forward run has ended (`forwardEnded`): why it ends is decided then, so a late
 * request cannot turn its own fault's slash into a release.
 */
export function rollbackTakesEffect(status: TaskStatus, alreadyRequested: boolean, forwardEnded = false): boolean {
  return !alreadyRequested && !forwardEnded && status !== 'committing' && !FINAL_STATUSES.includes(status);
}

/**
 * What an operator's rollback request will do, in words (`agenc task rollback`): undefined when it takes
 * effect, else why not: the task is final, past its point of no return, or already rolling back.
 */
export function rollbackRefusal(
  status: TaskStatus,
  alreadyRequested: string | undefined,
  forwardEnded = false,
): string | undefined {
  if (FINAL_STATUSES.includes(status)) return `already ${status}: nothing to roll back`;
  if (status === 'committing' || forwardEnded)
    return 'too late: committing (past its point of no return, its commitment is going on-chain); it will confirm';
  if (alreadyRequested) return `already rolling back (${alreadyRequested})`;
  return undefined;
}

/**
 * May this task go into its committing parent's batch? Only when it is proven and waits for nothing but
 * its ancestors, nothing asked it to roll back, and batching is on. Joining is its point of no return.
 */
export function mayJoinParentBatch(t: {
  status: TaskStatus;
  proofState: string;
  rollbackRequested: boolean;
  ownFault: boolean;
  batchSize: number;
}): boolean {
  return (
    t.status === 'awaiting_ancestors' &&
    t.proofState === 'verified' &&
    !t.rollbackRequested &&
    !t.ownFault &&
    t.batchSize > 1
  );
}

/**
 * A commitment batch: this task first, then its proven descendants in preorder, at most `batchSize`.
 * Any prefix of a preorder keeps every entry's ancestors before it, so the cap never breaks the order.
 */
export function commitBatchEntries<T>(own: T, below: readonly T[], batchSize: number): T[] {
  return [own, ...(batchSize > 1 ? below : [])].slice(0, Math.max(1, batchSize));
}

/**
 * A task with an unconfirmed parent proves before the parent is confirmed only with optimistic proofs on;
 * either way it commits only after.
 */
export function provesBeforeParentConfirmed(t: {
  hasParent: boolean;
  parentConfirmed: boolean;
  optimisticProofs: boolean;
}): boolean {
  return !t.hasParent || t.parentConfirmed || t.optimisticProofs;
}

/**
 * Why a task did not confirm, or `undefined` when nothing went wrong: a rollback that took effect is
 * the reason even when the task also failed on its own (its bond is then released, not slashed).
 */
export function endReason(
  rollbackRequest: RollbackReason | undefined,
  ownFault: RollbackReason | undefined,
): RollbackReason | undefined {
  return rollbackRequest ?? ownFault;
}

/** The dependents that have not settled yet, in registration order. */
/**
 * May a task with this deadline still speculate? Only while more than `bufferMs` is left: a speculation
 * the deadline cuts short would bond stake and burn a proof for a result that cannot confirm in time.
 * No deadline: always.
 */
export function claimWindowOpen(deadline: string | undefined, nowMs: number, bufferMs: number): boolean {
  return deadline === undefined || Date.parse(deadline) - nowMs > bufferMs;
}

/**
 * The reasons a re-attempt may pass (`checkpoint`): the task's own failure (an agent's work may succeed the next
 * time; the slash stays) and the system's (a timeout, a prover or worker away). Not a parent's failure (the
 * parent's next attempt restarts it), an operator's rollback, a refused submission or a passed deadline.
 */
export const RETRIED_REASONS: readonly RollbackReason[] = [
  'execution_failed',
  'proof_failed',
  'proof_timeout',
  'proof_unavailable',
  'execution_unavailable',
  'confirmation_timeout',
  'system_error',
];

/**
 * Under `checkpoint`, is the attempt that ended for `reason` followed by another, and after what wait? Attempt
 * n (1-based) is followed while n ≤ max_retries, after retry_backoff_ms × 2^(n−1).
 */
export function checkpointRetry(t: {
  policy: RollbackPolicy | undefined;
  reason: RollbackReason;
  attempt: number;
  maxRetries: number;
  backoffMs: number;
}): { retry: false } | { retry: true; delayMs: number } {
  if (t.policy !== 'checkpoint' || !RETRIED_REASONS.includes(t.reason) || t.attempt > t.maxRetries)
    return { retry: false };
  return { retry: true, delayMs: t.backoffMs * 2 ** (t.attempt - 1) };
}

/**
 * The proof queue's priority for a task's proof (Temporal's priority key: 1 runs first, 5 last): by closeness
 * to confirmation. A proof whose ancestors are all confirmed (a root's, a non-speculative task's) goes first:
 * its task confirms as soon as it is proven, and speculative dependents wait on it; each unconfirmed ancestor
 * puts a proof one step further back, so a deep speculation never holds up the work it depends on.
 */
export function proofPriority(pendingAncestors: number): number {
  return Math.min(5, 1 + Math.max(0, pendingAncestors));
}

/** How an attempt ended, from its last state. */
export function attemptOutcomeOf(state: TaskState): AttemptOutcome {
  return {
    attempt: state.attempt ?? 1,
    status: state.status,
    rollback_reason: state.rollback_reason,
    bond: state.bond,
    error: state.error,
    ended_at: state.timestamps[state.status] ?? new Date().toISOString(),
  };
}

export function unsettledDependents(dependents: readonly string[], settled: ReadonlySet<string>): string[] {
  return dependents.filter((d) => !settled.has(d));
}

/** A locked bond is slashed when the task ended by its own fault, released otherwise (also on confirmation). */
export function bondSettlement(reason: RollbackReason | undefined): 'slash' | 'release' {
  return reason !== undefined && OWN_FAULT_REASONS.includes(reason) ? 'slash' : 'release';
}

/** How a task that did not confirm ends: `failed` by its own fault alone, `rolled_back` when anything asked it to. */
export function unconfirmedStatus(ownFault: boolean, rollbackRequested: boolean): 'failed' | 'rolled_back' {
  return ownFault && !rollbackRequested ? 'failed' : 'rolled_back';
}

/** The Web UI's words for why a task did not confirm. */
export function rollbackExplanation(
  reason: RollbackReason,
  t: { parentTaskId?: string; rootTaskId: string; error: string | null },
): string {
  const error = t.error ?? '';
  switch (reason) {
    case 'parent_failed':
      return `parent task ${t.parentTaskId} failed`;
    case 'parent_rolled_back':
      return `parent task ${t.parentTaskId} rolled back (tree root ${t.rootTaskId})`;
    case 'confirmation_timeout':
      return `parent task ${t.parentTaskId} was not confirmed within the confirmation timeout`;
    case 'proof_failed':
      return `its proof failed: ${error}`;
    case 'proof_timeout':
      return `its proof did not finish within the proving time (the machine's load, not the agent's: bond released)${error ? `: ${error}` : ''}`;
    case 'proof_unavailable':
      return `the system could not prove or verify it (the system's fault, not the agent's): ${error}`;
    case 'execution_failed':
      return `execution failed: ${error}`;
    case 'execution_unavailable':
      return `no worker could run it (the system's fault, not the agent's): ${error}`;
    case 'forced':
      return 'an operator forced the rollback';
    case 'system_error':
      return `the system failed (not the agent's fault): ${error}`;
    case 'submission_refused':
      return `its submission was refused, not signed by the agent it names (nothing bonded): ${error}`;
    case 'claim_expired':
      return `its deadline passed before it was confirmed${error ? ` (${error})` : ''}`;
  }
}

/** The ApplicationFailure type somewhere in a failure's cause chain. */
export function failureType(err: unknown): string | undefined {
  let cur: unknown = err;
  while (cur instanceof Error) {
    if (cur instanceof ApplicationFailure) return cur.type ?? undefined;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The rule before SystemFault: a proof's failure was `proof_timeout` or else `proof_failed`, both slashed.
 * Kept unchanged for replaying runs that decided by it (a changed answer would change the commands they
 * recorded); a new decision takes classifyProofFailure.
 */
export function proofFailureReason(err: unknown): Extract<RollbackReason, 'proof_timeout' | 'proof_failed'> {
  return failureType(err) === FAILURE_TYPES.proofTimeout ? 'proof_timeout' : 'proof_failed';
}

/**
 * The SystemFault anywhere in a failure's cause chain (failureType stops at the first ApplicationFailure;
 * a SystemFault may sit below another one): the system failed, not the agent.
 */
export function systemFaultIn(err: unknown): ApplicationFailure | undefined {
  let cur: unknown = err;
  while (cur instanceof Error) {
    if (cur instanceof ApplicationFailure && cur.type === FAILURE_TYPES.systemFault) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * How a failed step ends the task. `ownFault` is whether `reason` slashes (OWN_FAULT_REASONS, the one
 * list): then the task fails on its own fault; otherwise it rolls back with that reason, bond released.
 * `message` is what went wrong, for the task's `error`.
 */
export interface FailureVerdict<R extends RollbackReason> {
  reason: R;
  ownFault: boolean;
  message: string;
}

function verdict<R extends RollbackReason>(reason: R, message: string): FailureVerdict<R> {
  return { reason, ownFault: OWN_FAULT_REASONS.includes(reason), message };
}

/**
 * Why a task's proof (generation or verification) failed, by the failure's cause chain:
 * - a SystemFault anywhere (artifacts missing or corrupt, a prover and a verifier with different keys, a
 *   full queue, an error the prover did not expect), or a Temporal timeout (no proof worker took it, or its
 *   worker stopped answering): `proof_unavailable`, the system's;
 * - the proof worker's ProofTimeout: `proof_timeout`, the machine's load on a circuit of fixed size;
 * - anything else (the agent's inputs do not satisfy the circuit, a proof that did not verify): `proof_failed`.
 * Only the last slashes.
 */
export function classifyProofFailure(
  err: unknown,
  confirmationTimeoutMs: number,
): FailureVerdict<'proof_unavailable' | 'proof_timeout' | 'proof_failed'> {
  const system = systemFaultIn(err);
  if (system) return verdict('proof_unavailable', system.message);
  const lost = proofActivityLost(err, confirmationTimeoutMs);
  if (lost) return verdict('proof_unavailable', lost);
  if (failureType(err) === FAILURE_TYPES.proofTimeout) return verdict('proof_timeout', rootMessage(err));
  return verdict('proof_failed', rootMessage(err));
}

/**
 * Why a task's execution failed, by the failure's cause chain: a SystemFault anywhere (a task type or
 * payload schema this worker lacks, an error in the task type's code), or attempts lost to their worker,
 * is `execution_unavailable`, the system's; anything else (the task type's own TaskExecutionError) is
 * `execution_failed`, which slashes.
 */
export function classifyExecutionFailure(err: unknown): FailureVerdict<'execution_unavailable' | 'execution_failed'> {
  const system = systemFaultIn(err);
  if (system) return verdict('execution_unavailable', system.message);
  if (executionWorkerLost(err))
    return verdict('execution_unavailable', `its task worker stopped answering on every attempt: ${rootMessage(err)}`);
  return verdict('execution_failed', rootMessage(err));
}

/**
 * The settlement rule before proof timeouts stopped slashing: only for a run that recorded its
 * settlement by it (replayed without the workflow's patch marker), so that it issues the same command.
 * Every new decision takes bondSettlement.
 */
export function bondSettlementBeforeSystemFaults(reason: RollbackReason | undefined): 'slash' | 'release' {
  return reason === 'proof_timeout' ? 'slash' : bondSettlement(reason);
}

/** Whether an execution failed because its attempts timed out (start-to-close or heartbeat: no worker answered). */
export function executionWorkerLost(err: unknown): boolean {
  let cur: unknown = err;
  while (cur instanceof Error && !(cur instanceof TimeoutFailure)) cur = (cur as { cause?: unknown }).cause;
  return cur instanceof TimeoutFailure && (cur.timeoutType === 'START_TO_CLOSE' || cur.timeoutType === 'HEARTBEAT');
}

/** The innermost message of a failure's cause chain: what actually went wrong. */
export function rootMessage(err: unknown): string {
  let cur: unknown = err;
  let message = String(err);
  while (cur instanceof Error) {
    message = cur.message;
    cur = (cur as { cause?: unknown }).cause;
  }
  return message;
}

/**
 * Why no proof worker answered, when a Temporal timeout ended a proof activity: the system's fault
 * (the agent's own proof running out of time is the worker's ProofTimeout, an ApplicationFailure).
 */
export function proofActivityLost(err: unknown, confirmationTimeoutMs: number): string | undefined {
  let cur: unknown = err;
  while (cur instanceof Error && !(cur instanceof TimeoutFailure)) cur = (cur as { cause?: unknown }).cause;
  if (!(cur instanceof TimeoutFailure)) return undefined;
  if (cur.timeoutType === 'SCHEDULE_TO_START') {
    return `no proof worker took it within ${confirmationTimeoutMs} ms (confirmation_timeout_ms) in the agenc-proofs backlog; add proof workers`;
  }
  return `its proof worker stopped answering (${cur.timeoutType} timeout) on every attempt; check the agenc-proofs workers`;
}
