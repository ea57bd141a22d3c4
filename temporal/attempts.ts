/**
 * A task's next attempt: a new run of its workflow (`task-<id>`) from the last run's input, numbered one more,
 * carrying how the earlier attempts ended. `agenc task retry` starts one for a failed or rolled-back task; a
 * task's re-attempt under the `checkpoint` policy restarts its rolled-back dependents with it (the
 * `restartDependents` activity). Each attempt bonds its own account (custody bond seed: task ‖ attempt), so
 * no bond is locked twice, and the previous attempt's bond stays as it settled (a slash stays a slash).
 */
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { taskInputQuery, taskStateQuery } from '../shared/messages';
import { type AttemptOutcome, FINAL_STATUSES, type RollbackReason, taskWorkflowId } from '../shared/task-model';
import { attemptOutcomeOf } from '../workflows/task-decisions';
import { admitTask, withdrawAdmission } from './control';
import { startTaskWorkflow } from './task-start';

/** Why a next attempt is not started; `field` and `code` as the CLI reports them (exit 2). */
export class RetryRefused extends Error {
  readonly field = 'task_id';
  constructor(
    message: string,
    public readonly code: 'unknown_task' | 'still_running' | 'confirmed' | 'too_many_pending' | 'already_retried',
  ) {
    super(message);
    this.name = 'RetryRefused';
  }
}

export interface NextAttempt {
  task_id: string;
  attempt: number;
  previous: AttemptOutcome;
  /** The previous attempt's dependents that start their next attempt with it, if rolled back by its failure. */
  restart_dependents: string[];
}

/** The reasons a dependent rolled back for its parent's failure: it restarts with the parent's next attempt. */
const PARENT_FAILURES: readonly RollbackReason[] = ['parent_failed', 'parent_rolled_back'];

/**
 * Starts the task's next attempt. Refused (RetryRefused) for a task that does not exist, still runs or
 * confirmed. `onlyAfterParentFailure` (a restart by a parent's next attempt): a task that did not roll back
 * for a parent's failure is left alone (undefined is returned), and one whose last run is still closing
 * refuses as `still_running`, for the caller to try again.
 */
export async function startNextAttempt(
  client: Client,
  taskId: string,
  opts: { subtree: boolean; onlyAfterParentFailure?: boolean; rawConfig?: Record<string, unknown> },
): Promise<NextAttempt | undefined> {
  const handle = client.workflow.getHandle(taskWorkflowId(taskId));
  let running: boolean;
  try {
    running = (await handle.describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new RetryRefused(`task "${taskId}" does not exist`, 'unknown_task');
    throw err;
  }
  const state = await handle.query(taskStateQuery);
  if (opts.onlyAfterParentFailure) {
    // Running and not final: already restarted (a join's other parent did it), or it went on.
    if (running && !FINAL_STATUSES.includes(state.status)) return undefined;
    if (state.status !== 'rolled_back' || !PARENT_FAILURES.includes(state.rollback_reason!)) return undefined;
  }
  if (running) {
    throw new RetryRefused(
      FINAL_STATUSES.includes(state.status)
        ? `task ${taskId} is ${state.status} and its workflow is still closing${state.retry ? ` (its attempt ${state.retry.attempt} starts by itself)` : ''}; try again in a moment`
        : `task ${taskId} is still ${state.status} (attempt ${state.attempt ?? 1}): only a failed or rolled-back task can be retried; to stop it, agenc task rollback ${taskId}`,
      'still_running',
    );
  }
  if (state.status === 'confirmed') {
    throw new RetryRefused(
      `task ${taskId} is confirmed (attempt ${state.attempt ?? 1}, committed at ${state.commit_signature}): there is nothing to retry`,
      'confirmed',
    );
  }
  const input = await handle.query(taskInputQuery);
  const previous = attemptOutcomeOf(state);
  const attempt = previous.attempt + 1;
  const admission = await admitTask(client, taskId, opts.rawConfig);
  if (!admission.admitted) throw new RetryRefused(admission.message, 'too_many_pending');
  const restart = opts.subtree ? [...state.dependents] : [];
  try {
    await startTaskWorkflow(client, {
      ...input,
      attempt,
      previousAttempts: [...(input.previousAttempts ?? []), previous],
      restartDependents: restart,
      retryDelayMs: undefined,
    });
  } catch (err) {
    if (admission.reserved) await withdrawAdmission(client, taskId);
    // Another restarter (a join's other parent, a second `agenc task retry`) was first.
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      if (opts.onlyAfterParentFailure) return undefined;
      throw new RetryRefused(
        `task ${taskId}'s attempt ${attempt} was started by someone else just now`,
        'already_retried',
      );
    }
    throw err;
  }
  return { task_id: taskId, attempt, previous, restart_dependents: restart };
}
