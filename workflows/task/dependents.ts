/** What the task's dependents hear from it: its state on registration and on every change, and its progress. */
import {
  type ParentExecuted,
  parentCommittedSignal,
  parentConfirmedSignal,
  parentExecutedSignal,
  parentProgressSignal,
  parentRolledBackSignal,
} from '../../shared/messages';
import { newsForDependents, passesOnProgress } from '../task-decisions';
import { signalTask } from './signal-task';
import type { TaskRun } from './task-run';

/** What a dependent needs to hear about this task now: sent on registration and on every change. */
export async function pushStateTo(run: TaskRun, dependentId: string): Promise<void> {
  const { input, state } = run;
  const news = newsForDependents({
    status: state.status,
    hasResult: Boolean(state.result),
    ownFault: Boolean(run.ownFault),
    rollbackRequested: Boolean(run.rollbackRequest),
  });
  if (news.kind === 'rolled_back') {
    await signalTask(dependentId, (h) =>
      h.signal(parentRolledBackSignal, { parentTaskId: input.taskId, reason: news.reason }),
    );
  } else if (news.kind === 'confirmed') {
    await signalTask(dependentId, (h) =>
      h.signal(parentConfirmedSignal, { parentTaskId: input.taskId, ...state.result!, batch: run.commitBatch }),
    );
  } else if (news.kind === 'executed') {
    const executed: ParentExecuted = {
      parentTaskId: input.taskId,
      agent: input.agent,
      pendingAncestors: run.pendingAncestors(),
      ...state.result!,
    };
    await signalTask(dependentId, (h) => h.signal(parentExecutedSignal, executed));
    if (run.commitLanded)
      await signalTask(dependentId, (h) =>
        h.signal(parentCommittedSignal, { parentTaskId: input.taskId, batch: run.commitBatch! }),
      );
  }
}

export async function pushStateToAll(run: TaskRun): Promise<void> {
  await Promise.all(run.state.dependents.map((d) => pushStateTo(run, d)));
}

/** Tells the dependents their new count of unconfirmed ancestors, after this task's parent's changed. */
export async function passOnProgress(run: TaskRun): Promise<void> {
  if (!passesOnProgress({ status: run.state.status, hasResult: Boolean(run.state.result) })) return;
  const progress = { parentTaskId: run.input.taskId, pendingAncestors: run.pendingAncestors() };
  await Promise.all(run.state.dependents.map((d) => signalTask(d, (h) => h.signal(parentProgressSignal, progress))));
}
