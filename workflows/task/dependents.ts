/** What the task's dependents hear from it: its state on registration and on every change, and its progress. */
import {
  dependentSettledSignal,
  type ParentExecuted,
  parentCommittedSignal,
  parentConfirmedSignal,
  parentExecutedSignal,
  parentProgressSignal,
  parentRolledBackSignal,
} from '../../shared/messages';
import { CancellationScope, condition } from '@temporalio/workflow';
import { passesOnProgress } from '../task-decisions';
import { signalTask } from './signal-task';
import type { TaskRun } from './task-run';

/** What a dependent needs to hear about this task now: sent on registration and on every change. */
export async function pushStateTo(run: TaskRun, dependentId: string): Promise<void> {
  const { input, state } = run;
  const news = run.newsForDependents();
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

/**
 * What the dependents are owed, sent by one coroutine of its own once the task's step in the current
 * workflow activation is done, never from inside a signal handler or in the middle of a step.
 *
 * Why: the commands a workflow task emits must come out in the same order when the history is replayed.
 * After a worker dies holding a workflow task, the server may hand the next worker an activity's result
 * and a dependent's registration together, and Core has been seen to deliver them in one order then and
 * the other on replay (test/replay/unreplayable/). A push made in the registration handler, or by the
 * step the activity resumed, then lands before or after that step's commands depending on the order,
 * and the replay fails (nondeterminism). Here a handler or a step only records what is owed; the flag
 * that wakes the sender is raised in a microtask, so the SDK's condition check between jobs cannot wake
 * it before the step has run; it runs when the activation is otherwise quiet, and says what the state is
 * then. Either order gives the same commands.
 */
export class DependentNews {
  private readonly owedState = new Set<string>();
  private owedProgress = false;
  /** Parents owed word that this task no longer depends on their outcome (it goes on without them). */
  private readonly owedSettled = new Set<string>();
  private ready = false;
  private sending = false;

  constructor(private readonly run: TaskRun) {}

  /** Starts the sender; it outlives a cancelled forward run (a rollback's news must go out). */
  start(): void {
    void CancellationScope.nonCancellable(() => this.sendForever());
  }

  /** These dependents are owed the task's state (on registration, on every change). */
  oweState(dependents: readonly string[]): void {
    for (const d of dependents) this.owedState.add(d);
    this.wake();
  }

  /** Every dependent is owed its new count of unconfirmed ancestors. */
  oweProgress(): void {
    this.owedProgress = true;
    this.wake();
  }

  /** This parent failed and the task goes on without it: the parent need not wait for it before compensating. */
  oweSettledTo(parentId: string): void {
    this.owedSettled.add(parentId);
    this.wake();
  }

  /** Resolves once everything owed has been sent (before the task closes). */
  drained(): Promise<void> {
    return condition(
      () =>
        !this.ready && !this.sending && this.owedState.size === 0 && !this.owedProgress && this.owedSettled.size === 0,
    );
  }

  private wake(): void {
    void Promise.resolve().then(() => {
      this.ready = true;
    });
  }

  private async sendForever(): Promise<never> {
    for (;;) {
      await condition(() => this.ready);
      this.ready = false;
      this.sending = true;
      const dependents = [...this.owedState];
      const progress = this.owedProgress;
      const settledTo = [...this.owedSettled];
      this.owedState.clear();
      this.owedProgress = false;
      this.owedSettled.clear();
      await Promise.all(dependents.map((d) => pushStateTo(this.run, d)));
      await Promise.all(settledTo.map((p) => tellGoingOnWithout(this.run, p)));
      if (progress) await passOnProgress(this.run);
      this.sending = false;
    }
  }
}

/** Tells a failed parent this task goes on without it: for its rollback, this dependent is settled. */
async function tellGoingOnWithout(run: TaskRun, parentId: string): Promise<void> {
  const { taskId } = run.input;
  await signalTask(parentId, (h) => h.signal(dependentSettledSignal, { taskId, status: 'going_on_without_it' }));
}

/** Tells the dependents their new count of unconfirmed ancestors, after this task's parent's changed. */
export async function passOnProgress(run: TaskRun): Promise<void> {
  if (!passesOnProgress({ status: run.state.status, hasResult: Boolean(run.state.result) })) return;
  const progress = { parentTaskId: run.input.taskId, pendingAncestors: run.pendingAncestors() };
  await Promise.all(run.state.dependents.map((d) => signalTask(d, (h) => h.signal(parentProgressSignal, progress))));
}
