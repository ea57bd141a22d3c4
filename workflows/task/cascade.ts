/**
 * The fast cascade, as the task workflow takes part in it (activities/cascade-activities.ts runs it,
 * workflows/cascade-decisions.ts decides it). A task whose failure starts a rollback (the origin) runs
 * one activity that has every descendant join at once and releases their bonds deepest first in
 * batched transactions; a descendant that joins stops at once and then only waits for its verdict,
 * instead of waiting for its own subtree level by level. What stays as before: the origin settles its
 * own bond (release, or slash on its own fault) after all of theirs, and a task the batch could not
 * settle settles itself after its dependents.
 */
import { condition, log, setCurrentDetails } from '@temporalio/workflow';
import type { CascadeAnswer, CascadeJoin, CascadeVerdict } from '../../shared/messages';
import { FINAL_STATUSES } from '../../shared/task-model';
import type { CascadeRollbackResult } from '../../shared/cascade-records';
import { rollbackTakesEffect, rootMessage } from '../task-decisions';
import { CASCADE, taskActivities } from './activity-options';
import { metricsSink, type TaskRun } from './task-run';
import { undoPending } from './undo';
import { attemptOf } from './bond';

/**
 * How long a task that joined waits for its verdict before it settles itself (after its dependents, so
 * the order holds whatever the batch does meanwhile): the verdict only makes the rollback faster.
 */
const VERDICT_WAIT = '1 minute';

/** The cascade a task joined, and the verdict it heard. */
export interface CascadeMembership {
  origin: string;
  verdict?: CascadeVerdict;
}

/**
 * The `joinCascade` Update: joins if a rollback can still take effect here (the forward run stops now,
 * for `join.cause`), answering with the bond once no lock is under way. The same origin asking again (a
 * retried activity) gets the same answer; any other finds it final, committing, or already rolling back,
 * and the parent's failure is noted among its causes all the same.
 */
export async function joinCascade(run: TaskRun, join: CascadeJoin): Promise<CascadeAnswer> {
  const { state } = run;
  if (run.cascade?.origin !== join.origin) {
    run.noteRollbackCause(join.cause, join.reason);
    const why = run.cascade
      ? `it rolls back in task ${run.cascade.origin}'s cascade`
      : !rollbackTakesEffect(state.status, Boolean(run.rollbackRequest), run.endReasonFrozen && run.forwardEnded)
        ? `it is ${state.status}`
        : undefined;
    if (why !== undefined || run.rollbackRequest || run.ownFault)
      return {
        joined: false,
        final: FINAL_STATUSES.includes(state.status),
        status: state.status,
        why: why ?? 'it is already rolling back',
      };
    run.cascade = { origin: join.origin };
    log.warn('joined the cascade of a failed ancestor', { taskId: run.input.taskId, origin: join.origin });
    run.requestRollback(join.reason, join.cause);
  }
  // A lock under way finishes first (it cannot be called back): the origin then releases that bond too.
  await condition(() => !run.bondLocking);
  return {
    joined: true,
    agent: run.input.agent,
    bondLocked: state.bond?.state === 'locked',
    dependents: [...state.dependents],
    ...(undoPending(run) ? { undoPending: true } : {}),
    ...attemptOf(run),
  };
}

/** The origin hears its verdict for this task: the first one counts. */
export function heardCascadeVerdict(run: TaskRun, verdict: CascadeVerdict): void {
  if (run.cascade?.origin === verdict.origin) run.cascade.verdict ??= verdict;
}

/**
 * A task that joined waits for its verdict. Settled: its bond was released in the origin's batch, and
 * the dependents the batch settled need no waiting for. Otherwise (told so, or no word within
 * VERDICT_WAIT) it settles itself after its dependents, as a rollback without a cascade does.
 */
export async function awaitVerdict(run: TaskRun, cascade: CascadeMembership): Promise<void> {
  run.waitFor(`task ${cascade.origin}'s cascade to settle this task's bond`);
  if (!(await condition(() => Boolean(cascade.verdict), VERDICT_WAIT))) {
    log.warn('no verdict from the cascade origin; settling this task itself', {
      taskId: run.input.taskId,
      origin: cascade.origin,
    });
    return;
  }
  const { verdict } = cascade;
  if (!verdict?.settled) return;
  for (const d of verdict.settledDependents) run.settledDependents.add(d);
  const { bond } = run.state;
  if (bond?.state === 'locked' && verdict.bond) {
    run.state.bond = { ...bond, state: 'released', settled_at: verdict.bond.settledAt, settled_by: cascade.origin };
    metricsSink.bondSettled(bond.amount, 0);
  }
}

/**
 * The origin's part: one activity, then the dependents it settled need no waiting for. Without
 * dependents there is nothing to cascade.
 */
export async function cascadeFrom(run: TaskRun): Promise<void> {
  const { input, state } = run;
  if (!state.dependents.length) return;
  const news = run.newsForDependents();
  let result: CascadeRollbackResult;
  try {
    result = await taskActivities(
      CASCADE,
      `cascade: roll back the subtree below this task at once, its bonds released deepest first`,
    ).cascadeRollback({
      origin: input.taskId,
      dependents: [...state.dependents],
      reason: news.kind === 'rolled_back' ? news.reason : 'parent_rolled_back',
      policy: run.config?.speculation.rollback_policy ?? 'cascade',
    });
  } catch (err) {
    // Its dependents hear the rollback as before, and any that joined settle themselves after VERDICT_WAIT.
    log.warn('the cascade could not run; rolling back level by level', {
      taskId: input.taskId,
      error: rootMessage(err),
    });
    return;
  }
  if (result.fallback)
    log.warn('cascade fell back to settling level by level', { taskId: input.taskId, error: result.fallback });
  for (const d of result.settledDependents) run.settledDependents.add(d);
  const since = Date.parse(state.timestamps.rolling_back ?? '');
  if (result.members && Number.isFinite(since)) metricsSink.cascaded(result.members, (Date.now() - since) / 1000);
  setCurrentDetails(
    `**rolling_back** — cascade: ${result.members} descendant(s), ${result.settledInBatch} settled in ` +
      `${result.transactions} batched transaction(s), ${result.selfSettling} settling themselves`,
  );
}
