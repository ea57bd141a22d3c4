/**
 * The task and its parents: what it knows of each (pushed by their signals), registering with them,
 * waiting for their news, and telling them this task settled. A task has one parent per edge of the
 * task graph (shared/task-model.ts DEPENDENCY_KINDS); a run started before task graphs has its one
 * data parent, and every step here issues the same commands for it as before.
 */
import { condition, getExternalWorkflowHandle, isCancellation, log } from '@temporalio/workflow';
import { type ParentExecuted, dependentSettledSignal, registerDependentSignal } from '../../shared/messages';
import {
  consumesOutput,
  type DependencyKind,
  type RollbackReason,
  type TaskDependency,
  type TaskOutput,
  type TaskState,
  taskWorkflowId,
} from '../../shared/task-model';
import { parentFailureEffect, unconfirmedAncestors } from '../task-decisions';
import { QUICK, QUICK_BOUNDED, taskActivities } from './activity-options';
import { signalTask } from './signal-task';
import type { TaskRun } from './task-run';

/** What this task knows of one parent. */
export interface KnownParent {
  kind: DependencyKind;
  executed?: ParentExecuted;
  confirmed?: TaskOutput;
  /** The parent's commitment has landed on-chain (not yet final): this task may send its own. */
  committed?: boolean;
  /** The parent's own unconfirmed ancestors. */
  pendingAncestors: number;
  /** The parent failed or rolled back (why), as this task heard it. */
  failed?: RollbackReason;
  /** The parent failed and this task goes on without it (an order edge under `selective`): its outcome no longer matters. */
  released?: RollbackReason;
}

/** Every parent's news, and what they add up to. */
export class Parents {
  private readonly byId = new Map<string, KnownParent>();

  constructor(dependencies: readonly TaskDependency[]) {
    for (const d of dependencies) this.byId.set(d.taskId, { kind: d.kind, pendingAncestors: 0 });
  }

  get ids(): string[] {
    return [...this.byId.keys()];
  }

  get any(): boolean {
    return this.byId.size > 0;
  }

  get(taskId: string): KnownParent | undefined {
    return this.byId.get(taskId);
  }

  /** Parents that failed before this task could decide what that means to it (its configuration unread). */
  undecidedFailures(): Array<[string, RollbackReason]> {
    return [...this.byId].flatMap(([id, p]) =>
      p.failed && !p.released ? [[id, p.failed] as [string, RollbackReason]] : [],
    );
  }

  /** The parents whose outcome still matters to this task (not released). */
  live(): Array<[string, KnownParent]> {
    return [...this.byId].filter(([, p]) => !p.released);
  }

  /** What this task waits for, in words: the first parent that does not pass `test`, as `describe` says it; undefined when all pass. */
  firstNotReady(test: (p: KnownParent) => boolean, describe: WaitWords): string | undefined {
    const waiting = this.live().find(([, p]) => !test(p));
    return waiting && describe(waiting[0], waiting[1]);
  }

  /** Does every parent whose outcome still matters pass `test`? */
  all(test: (p: KnownParent) => boolean): boolean {
    return this.live().every(([, p]) => test(p));
  }

  allConfirmed(): boolean {
    return this.all(isConfirmed);
  }

  /** Every parent's commitment is on-chain (landed or final): this task's may follow. */
  allLanded(): boolean {
    return this.all(hasLanded);
  }

  /** The parents still unconfirmed, by id: what a speculation bonds against. */
  unconfirmed(): string[] {
    return this.live()
      .filter(([, p]) => !p.confirmed)
      .map(([id]) => id);
  }

  /** The longest path of unconfirmed ancestors through any parent. */
  pendingAncestors(): number {
    return Math.max(
      0,
      ...this.live().map(([, p]) =>
        unconfirmedAncestors({
          hasParent: true,
          parentConfirmed: Boolean(p.confirmed),
          parentPending: p.pendingAncestors,
        }),
      ),
    );
  }

  /** The results this task consumes (data and confirmed edges), in its parents' order: confirmed where known, else executed. */
  consumed(): Array<{ taskId: string; output: TaskOutput }> {
    return this.live()
      .filter(([, p]) => consumesOutput(p.kind))
      .map(([taskId, p]) => ({ taskId, output: (p.confirmed ?? p.executed)! }));
  }
}

/** The parent is confirmed (executed, proven, its commitment final). */
export const isConfirmed = (p: KnownParent): boolean => Boolean(p.confirmed);
/** Its commitment is on-chain, landed or final: a dependent's may follow. */
export const hasLanded = (p: KnownParent): boolean => Boolean(p.confirmed || p.committed);
/** A task may start on it: executed (confirmed, for a confirmed-kind edge). */
export const mayStartOn = (p: KnownParent): boolean =>
  p.kind === 'confirmed' ? Boolean(p.confirmed) : Boolean(p.executed || p.confirmed);

/** A wait for one parent, in words (what the Web UI and `agenc task status` show). */
export type WaitWords = (parentId: string, p: KnownParent) => string;

/** Waiting for a parent to be ready to start on. */
export const toStart: WaitWords = (id, p) =>
  p.kind === 'confirmed'
    ? `parent task ${id} to be confirmed (a confirmed-kind edge: never speculated on)`
    : `parent task ${id} to execute`;
/** Waiting for a parent's confirmation, `why` said after it. */
export const toBeConfirmed =
  (why = ''): WaitWords =>
  (id) =>
    `parent task ${id} to be confirmed${why}`;
/** Waiting for a parent's commitment to be on-chain. */
export const toLand: WaitWords = (id) => `parent task ${id}'s commitment to land on-chain`;

/** Registers as every parent's dependent (each pushes its state from then on); a parent already finished is read instead. */
export async function registerWithParents(run: TaskRun): Promise<void> {
  await Promise.all(run.parents.ids.map((id) => registerWithParent(run, id)));
}

async function registerWithParent(run: TaskRun, parentId: string): Promise<void> {
  try {
    await getExternalWorkflowHandle(taskWorkflowId(parentId)).signal(registerDependentSignal, {
      taskId: run.input.taskId,
    });
  } catch {
    const outcome = await taskActivities(QUICK, `read the outcome of finished parent ${parentId}`).getTaskOutcome(
      parentId,
    );
    if (outcome.status === 'confirmed' && outcome.result) run.parents.get(parentId)!.confirmed = outcome.result;
    else run.heardParentFailed(parentId, outcome.status === 'failed' ? 'parent_failed' : 'parent_rolled_back');
  }
}

/**
 * What a parent's failure does to this task: it rolls back (every edge under `cascade`; data and
 * confirmed edges under `selective`), or, for an order edge under `selective`, goes on without that
 * parent, which hears at once that it need not wait for this task before compensating.
 */
export function parentFailed(run: TaskRun, parentId: string, reason: RollbackReason): void {
  const parent = run.parents.get(parentId);
  if (!parent || parent.released) return;
  parent.failed ??= reason;
  run.noteRollbackCause(parentId, reason);
  const effect = parentFailureEffect(parent.kind, run.config?.speculation.rollback_policy);
  if (effect === 'roll_back') return run.requestRollback(reason, parentId);
  if (effect === 'undecided') return; // decided once the configuration is read (TaskRun.runForward)
  log.info('parent failed; an order edge under the selective policy: going on without it', {
    taskId: run.input.taskId,
    parent: parentId,
    reason,
  });
  parent.released = reason;
  run.news.oweSettledTo(parentId);
}

/**
 * Waits for news from the parents. With parent-liveness, it also looks every so often (from
 * gc_interval_ms, doubling to 8 times that) whether the parents' workflows still run: a parent that
 * closed without a verdict (terminated, failed) never sends one, so this task reads its last state and
 * treats it as failed (rolling back or going on, as parentFailed decides), saying why, instead of
 * waiting forever with its admission slot.
 */
export async function awaitParents(run: TaskRun, until: () => boolean): Promise<void> {
  if (!run.parentLiveness) return void (await condition(until));
  const everyMs = run.config!.speculation.limits.gc_interval_ms;
  for (let waitMs = everyMs; !(await condition(until, waitMs)); waitMs = Math.min(2 * waitMs, 8 * everyMs)) {
    const unheard = run.parents
      .live()
      .filter(([, p]) => !p.confirmed)
      .map(([id]) => id);
    const closed = await taskActivities(
      QUICK,
      unheard.length === 1
        ? `check: does parent task ${unheard[0]} still run`
        : `check: do parent tasks ${unheard.join(', ')} still run`,
    ).findClosedTasks(unheard);
    for (const parentId of closed) {
      const outcome = await lastStateOf(parentId);
      if (until()) return;
      if (outcome?.status === 'confirmed' && outcome.result) {
        run.parents.get(parentId)!.confirmed = outcome.result;
        continue;
      }
      const said = outcome ? `closed while ${outcome.status}` : 'closed, and its last state could not be read';
      run.state.error = `parent task ${parentId}'s workflow ${said}, without a verdict (terminated or failed)`;
      parentFailed(run, parentId, outcome?.status === 'rolled_back' ? 'parent_rolled_back' : 'parent_failed');
      if (run.rollbackRequest) await run.forward.cancelRequested;
    }
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

/** Tells every parent this task reached a final state, so it may compensate (it waits for its subtree first). */
export async function tellParentsSettled(run: TaskRun): Promise<void> {
  const { taskId } = run.input;
  await Promise.all(
    run.parents.ids.map((parentId) =>
      signalTask(parentId, (h) => h.signal(dependentSettledSignal, { taskId, status: run.state.status })),
    ),
  );
}
