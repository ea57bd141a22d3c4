/**
 * A task's effects outside the system (a task type's `undo`, e.g. `record`'s row): the undo is registered as a
 * compensation before the execution (an execution cut short may have written already), runs on a rollback
 * only, and is recorded in the state. It runs before the bond settles (compensations run in reverse), and only
 * after the task's dependents have settled, theirs undone first: a member of a fast cascade with effects to undo
 * settles itself after its dependents instead of in the origin's batch (cascade-decisions settlementPlan).
 */
import { log } from '@temporalio/workflow';
import { rootMessage } from '../task-decisions';
import { taskActivities, UNDO } from './activity-options';
import type { TaskRun } from './task-run';

/** Right before the execution: what happens to the task's effects if it rolls back. */
export function registerUndo(run: TaskRun): void {
  if (run.state.undo) return; // registered by an earlier round of execution attempts
  if (!run.input.undoable) {
    run.state.undo = { state: 'not_declared' };
    return;
  }
  run.state.undo = { state: 'registered' };
  run.compensations.register("undo the execution's effects", () => undoEffects(run), { rollbackOnly: true });
}

/** Whether a rollback still has effects of this task to undo. */
export function undoPending(run: TaskRun): boolean {
  return run.state.undo?.state === 'registered';
}

async function undoEffects(run: TaskRun): Promise<void> {
  const { input, state } = run;
  run.waitFor(`the undo of this task's effects (${input.type})`);
  try {
    const answer = await taskActivities(UNDO, `undo: the effects of ${input.type} task ${input.taskId}`).undoTask({
      taskId: input.taskId,
      type: input.type,
      payload: input.payload,
      attempt: run.attempt,
      output: state.result?.output ?? null,
    });
    state.undo = { state: 'undone', detail: answer?.undone ?? 'nothing to undo', at: new Date().toISOString() };
    log.info('effects undone', { taskId: input.taskId, undone: state.undo.detail });
  } catch (err) {
    state.undo = { state: 'failed', detail: rootMessage(err), at: new Date().toISOString() };
    throw err;
  }
}
