/**
 * Attempts (`rollback_policy = "checkpoint"`, `agenc task retry`): an attempt that ends for a reason that may
 * pass is followed by the next, as a new run of the same workflow (continue-as-new: the Web UI lists every run
 * of `task-<id>`), after its rollback has settled everything the attempt held. The next attempt waits its
 * backoff, then runs from the start with the task's input, and restarts the previous attempt's dependents
 * that rolled back for its failure (temporal/attempts.ts), each as their next attempt. Each attempt bonds an
 * account of its own; an own-fault slash of one attempt stays slashed.
 */
import { continueAsNew, log, setCurrentDetails, sleep } from '@temporalio/workflow';
import type { TaskInput } from '../../shared/task-model';
import { attemptOutcomeOf, checkpointRetry, rootMessage } from '../task-decisions';
import { RESTART, taskActivities } from './activity-options';
import type { TaskRun } from './task-run';

/** Under `checkpoint`, the next attempt this one is followed by (its wait), once the run has ended; recorded in the state. */
export function nextAttempt(run: TaskRun): { delayMs: number } | undefined {
  const reason = run.endReason();
  const cfg = run.config?.speculation;
  if (!reason || !cfg) return undefined;
  const decision = checkpointRetry({
    policy: cfg.rollback_policy,
    reason,
    attempt: run.attempt,
    maxRetries: cfg.max_retries,
    backoffMs: cfg.retry_backoff_ms,
  });
  if (!decision.retry) return undefined;
  run.state.retry = { attempt: run.attempt + 1, delay_ms: decision.delayMs };
  log.warn('attempt ended; the checkpoint policy re-attempts the task', {
    taskId: run.input.taskId,
    attempt: run.attempt,
    reason,
    next: run.attempt + 1,
    delayMs: decision.delayMs,
  });
  return { delayMs: decision.delayMs };
}

/** Ends this run as the next attempt's start: same task, one more attempt, this one's outcome carried along. */
export async function continueAsAttempt(run: TaskRun, next: { delayMs: number }): Promise<never> {
  const { input, state } = run;
  setCurrentDetails(
    `**${state.status}** (attempt ${run.attempt}, ${state.rollback_reason}) — attempt ${run.attempt + 1} follows in ${next.delayMs} ms (checkpoint policy)`,
  );
  const following: TaskInput = {
    ...input,
    attempt: run.attempt + 1,
    previousAttempts: [...(input.previousAttempts ?? []), attemptOutcomeOf(state)],
    restartDependents: [...state.dependents],
    retryDelayMs: next.delayMs,
  };
  return continueAsNew<(input: TaskInput) => Promise<unknown>>(following);
}

/** A re-attempt's backoff, inside the forward run (a rollback request ends it). */
export async function retryBackoff(run: TaskRun): Promise<void> {
  const delayMs = run.input.retryDelayMs ?? 0;
  if (!delayMs) return;
  run.waitFor(`attempt ${run.attempt}'s backoff (${delayMs} ms, checkpoint policy)`);
  await sleep(delayMs);
}

/** The previous attempt's dependents rolled back by its failure start their next attempt with this one. */
export async function restartDependents(run: TaskRun): Promise<void> {
  const dependents = run.input.restartDependents ?? [];
  if (!dependents.length) return;
  try {
    const { restarted } = await taskActivities(
      RESTART,
      `restart: the dependents attempt ${run.attempt - 1} rolled back, on this attempt`,
    ).restartDependents({ taskId: run.input.taskId, attempt: run.attempt, dependents });
    if (restarted.length) log.info('dependents restarted with this attempt', { taskId: run.input.taskId, restarted });
  } catch (err) {
    // They stay rolled back; `agenc task retry <id> --subtree` restarts them by hand.
    log.warn('could not restart the dependents rolled back by the previous attempt', {
      taskId: run.input.taskId,
      dependents,
      error: rootMessage(err),
    });
  }
}
