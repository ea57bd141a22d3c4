/** The task and its parent: registering with it, waiting for its news, and telling it this task settled. */
import { condition, getExternalWorkflowHandle, isCancellation } from '@temporalio/workflow';
import { dependentSettledSignal, registerDependentSignal } from '../../shared/messages';
import { type TaskState, taskWorkflowId } from '../../shared/task-model';
import { QUICK, QUICK_BOUNDED, taskActivities } from './activity-options';
import { signalTask } from './signal-task';
import type { TaskRun } from './task-run';

/** Registers as the parent's dependent (it pushes its state from then on); a parent already finished is read instead. */
export async function registerWithParent(run: TaskRun, parentId: string): Promise<void> {
  try {
    await getExternalWorkflowHandle(taskWorkflowId(parentId)).signal(registerDependentSignal, {
      taskId: run.input.taskId,
    });
  } catch {
    const outcome = await taskActivities(QUICK, `read the outcome of finished parent ${parentId}`).getTaskOutcome(
      parentId,
    );
    if (outcome.status === 'confirmed' && outcome.result) run.parent.confirmed = outcome.result;
    else run.requestRollback(outcome.status === 'failed' ? 'parent_failed' : 'parent_rolled_back');
  }
}

/**
 * Waits for news from the parent. With parent-liveness, it also looks every so often (from
 * gc_interval_ms, doubling to 8 times that) whether the parent's workflow still runs: a parent that
 * closed without a verdict (terminated, failed) never sends one, so this task reads its last state and
 * rolls back, saying why, instead of waiting forever with its admission slot.
 */
export async function awaitParent(run: TaskRun, until: () => boolean): Promise<void> {
  const parentId = run.input.parentTaskId!;
  if (!run.parentLiveness) return void (await condition(until));
  const everyMs = run.config!.speculation.limits.gc_interval_ms;
  for (let waitMs = everyMs; !(await condition(until, waitMs)); waitMs = Math.min(2 * waitMs, 8 * everyMs)) {
    const [closed] = await taskActivities(QUICK, `check: does parent task ${parentId} still run`).findClosedTasks([
      parentId,
    ]);
    if (!closed) continue;
    const outcome = await lastStateOf(parentId);
    if (until()) return;
    if (outcome?.status === 'confirmed' && outcome.result) {
      run.parent.confirmed = outcome.result;
      continue;
    }
    const said = outcome ? `closed while ${outcome.status}` : 'closed, and its last state could not be read';
    run.state.error = `parent task ${parentId}'s workflow ${said}, without a verdict (terminated or failed)`;
    run.requestRollback(outcome?.status === 'rolled_back' ? 'parent_rolled_back' : 'parent_failed');
    await run.forward.cancelRequested;
  }
}

/** A closed task's last state, or undefined when it cannot be read (its history gone, or not replayable). */
async function lastStateOf(taskId: string): Promise<TaskState | undefined> {
  try {
    return await taskActivities(QUICK_BOUNDED, `read the last state of closed task ${taskId}`).getTaskOutcome(taskId);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return undefined;
  }
}

/** Tells the parent this task reached a final state, so it may compensate (it waits for its subtree first). */
export async function tellParentSettled(run: TaskRun): Promise<void> {
  const { parentTaskId, taskId } = run.input;
  if (parentTaskId)
    await signalTask(parentTaskId, (h) => h.signal(dependentSettledSignal, { taskId, status: run.state.status }));
}
