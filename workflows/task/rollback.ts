/**
 * The rollback, as a saga: the subtree first (each dependent settles before this task compensates,
 * deepest first across the tree), then this task's compensations in reverse order, inside a
 * non-cancellable scope. Every compensation is idempotent, so a retry after a crash ends in the same state.
 *
 * With the fast cascade (cascade.ts) the subtree settles at once: a task whose failure starts the rollback
 * has its descendants join and their bonds released in its batch; a descendant that joined waits for its
 * verdict, not for its own subtree. Those the batch could not settle, and runs started before, go level by level.
 */
import {
  CancellationScope,
  condition,
  log,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { SA } from '../../shared/search-attributes';
import { describeUndo } from '../../shared/task-model';
import { rollbackExplanation, unconfirmedStatus, unsettledDependents } from '../task-decisions';
import { QUICK, taskActivities } from './activity-options';
import { awaitVerdict, cascadeFrom } from './cascade';
import { dependentLinks, metricsSink, type TaskRun } from './task-run';

/** How often a rolling-back task checks on dependents that have not settled yet. */
const SUBTREE_CHECK_INTERVAL = '1 minute';

export async function rollBack(run: TaskRun): Promise<void> {
  const { input, state } = run;
  const reason = run.endReason()!;
  state.rollback_reason = reason;
  if (run.ownFault) state.error = run.ownFault.message;
  await CancellationScope.nonCancellable(async () => {
    const dependents = unsettledDependents(state.dependents, run.settledDependents);
    run.enter(
      'rolling_back',
      `${dependents.length ? `dependent(s) ${dependents.join(', ')} to roll back, then ` : ''}this task's compensations`,
    );
    if (patched('fast-cascade')) {
      if (run.cascade) await awaitVerdict(run, run.cascade);
      else await cascadeFrom(run);
      // Those settled in the cascade have heard; the rest (order dependents going on, late ones) hear now.
      await run.tellDependents(unsettledDependents(state.dependents, run.settledDependents));
    } else {
      await run.tellDependents();
    }
    await subtreeSettled(run);
    await run.compensations.runAll(reason, (failure) => run.recordError(failure));
  });
  if (state.speculation_status === 'pending') state.speculation_status = 'non_speculative';
  run.enter(unconfirmedStatus(Boolean(run.ownFault), Boolean(run.rollbackRequest)));
  upsertSearchAttributes([{ key: SA.rollbackReason, value: reason }]);
  const cause = run.rollbackCause ?? input.parentTaskId;
  const also = (state.rollback_causes ?? []).filter((c) => c.task_id !== cause);
  const why =
    rollbackExplanation(reason, { parentTaskId: cause, rootTaskId: input.rootTaskId, error: state.error }) +
    (also.length ? ` (also heard: ${also.map((c) => `parent task ${c.task_id} ${c.reason}`).join(', ')})` : '');
  const bond = state.bond
    ? `${state.bond.amount} lamports ${state.bond.state}${state.bond.settled_by ? ` in task ${state.bond.settled_by}'s cascade` : ''}`
    : 'none';
  const effects = state.undo ? `; effects ${describeUndo(state.undo)}` : '';
  setCurrentDetails(
    `**${state.status}** — ${why}; bond ${bond}${effects}; ${state.dependents.length} dependent(s) rolled back first${dependentLinks(state)}`,
  );
  // A root that fails on its own is a failure, not a rollback; a speculative task's failure undoes speculation.
  const speculative = state.speculation_status === 'speculative';
  if (state.status === 'rolled_back' || speculative) metricsSink.rolledBack(reason, speculative);
  if (state.status === 'failed') metricsSink.failed(reason);
}

/**
 * Waits until every dependent has settled (rolled back, its bond released or slashed), however long
 * that takes: this task's compensations must not settle its bond while a dependent still holds an
 * unsettled speculation on it. Every check interval it says which dependents it waits for, and
 * counts as settled a dependent whose workflow closed without saying so (terminated by an operator),
 * which never will.
 */
async function subtreeSettled(run: TaskRun): Promise<void> {
  const unsettled = () => unsettledDependents(run.state.dependents, run.settledDependents);
  while (!(await condition(() => !unsettled().length, SUBTREE_CHECK_INTERVAL))) {
    const waitingFor = unsettled();
    const closed = await taskActivities(
      QUICK,
      `check: which of ${waitingFor.length} unsettled dependent(s) still run`,
    ).findClosedTasks(waitingFor);
    for (const d of closed) {
      log.warn('dependent closed without settling (terminated?); its compensations did not run', {
        taskId: run.input.taskId,
        dependent: d,
      });
      run.settledDependents.add(d);
    }
    const still = unsettled();
    if (still.length) {
      log.warn('still waiting for dependents to settle before compensating', {
        taskId: run.input.taskId,
        dependents: still,
      });
      run.enter('rolling_back', `dependent(s) ${still.join(', ')} to settle, then this task's compensations`);
    }
  }
}
