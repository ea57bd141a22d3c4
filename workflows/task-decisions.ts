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
import { FINAL_STATUSES, OWN_FAULT_REASONS, type RollbackReason, type TaskStatus } from '../shared/task-model';

/** What a dependent hears about its parent now: sent when it registers and on every change. */
export type ParentNews =
  | { kind: 'rolled_back'; reason: Extract<RollbackReason, 'parent_failed' | 'parent_rolled_back'> }
  | { kind: 'confirmed' }
  | { kind: 'executed' }
  | { kind: 'nothing_yet' };

export function newsForDependents(t: { status: TaskStatus; hasResult: boolean; ownFault: boolean; rollbackRequested: boolean }): ParentNews {
  if (t.ownFault || t.status === 'failed') return { kind: 'rolled_back', reason: 'parent_failed' };
  if (t.rollbackRequested || t.status === 'rolled_back') return { kind: 'rolled_back', reason: 'parent_rolled_back' };
  if (!t.hasResult) return { kind: 'nothing_yet' };
  return t.status === 'confirmed' ? { kind: 'confirmed' } : { kind: 'executed' };
}

/**
 * This task's unconfirmed ancestors: its parent and the parent's own, until the parent is confirmed. A
 * dependent that speculates on this task does so at depth 1 + this count.
 */
export function unconfirmedAncestors(t: { hasParent: boolean; parentConfirmed: boolean; parentPending: number }): number {
  return t.hasParent && !t.parentConfirmed ? 1 + t.parentPending : 0;
}

/**
 * Whether a change in the parent's ancestors is passed on to the dependents: only once they can have
 * heard of this task as executed, and not once it is final (they hear the final news instead).
 */
export function passesOnProgress(t: { status: TaskStatus; hasResult: boolean }): boolean {
  return t.hasResult && !FINAL_STATUSES.includes(t.status);
}

/** Only the first request counts, and none once the task is final or committing (past its point of no return). */
export function rollbackTakesEffect(status: TaskStatus, alreadyRequested: boolean): boolean {
  return !alreadyRequested && status !== 'committing' && !FINAL_STATUSES.includes(status);
}

/**
 * May this task go into its committing parent's batch? Only when it is proven and waits for nothing but
 * its ancestors, nothing asked it to roll back, and batching is on. Joining is its point of no return.
 */
export function mayJoinParentBatch(t: { status: TaskStatus; proofState: string; rollbackRequested: boolean; ownFault: boolean; batchSize: number }): boolean {
  return t.status === 'awaiting_ancestors' && t.proofState === 'verified' && !t.rollbackRequested && !t.ownFault && t.batchSize > 1;
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
export function provesBeforeParentConfirmed(t: { hasParent: boolean; parentConfirmed: boolean; optimisticProofs: boolean }): boolean {
  return !t.hasParent || t.parentConfirmed || t.optimisticProofs;
}

/**
 * Why a task did not confirm, or `undefined` when nothing went wrong: a rollback that took effect is
 * the reason even when the task also failed on its own (its bond is then released, not slashed).
 */
export function endReason(rollbackRequest: RollbackReason | undefined, ownFault: RollbackReason | undefined): RollbackReason | undefined {
  return rollbackRequest ?? ownFault;
}

/** The dependents that have not settled yet, in registration order. */
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
export function rollbackExplanation(reason: RollbackReason, t: { parentTaskId?: string; rootTaskId: string; error: string | null }): string {
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
      return 'its proof timed out';
    case 'proof_unavailable':
      return `no proof worker proved it (the system's fault, not the agent's): ${error}`;
    case 'execution_failed':
      return `execution failed: ${error}`;
    case 'forced':
      return 'an operator forced the rollback';
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

/** The own-fault reason of a proof that failed: the proof worker's own timeout, or anything else (a proof that did not verify). */
export function proofFailureReason(err: unknown): Extract<RollbackReason, 'proof_timeout' | 'proof_failed'> {
  return failureType(err) === FAILURE_TYPES.proofTimeout ? 'proof_timeout' : 'proof_failed';
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
