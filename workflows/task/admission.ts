/**
 * Admission: may this task speculate on its parent's executed result? The control workflow answers
 * (slots, depth, branches, cooldowns); if it may, the bond is locked. Its confirmation timer starts
 * with the speculative execution (execute.ts).
 */
import { CancellationScope, condition, isCancellation, log, patched } from '@temporalio/workflow';
import { FINAL_STATUSES } from '../../shared/task-model';
import { localTaskActivities, QUICK, QUICK_LOCAL, taskActivities } from './activity-options';
import { endSpeculation, lockBond } from './bond';
import type { TaskRun } from './task-run';

/**
 * Asks the control workflow whether this task may speculate on its unconfirmed parents' executed results
 * (the first is the request's parent; the others are checked the same way), and bonds stake if so.
 */
export async function admitAndBond(run: TaskRun, unconfirmed: string[]): Promise<boolean> {
  const depth = run.pendingAncestors();
  const [parentId, ...others] = unconfirmed.map((id) => ({ taskId: id, agent: run.parents.get(id)!.executed!.agent }));
  // Registered before the admission: a rollback that cancels the request still frees the slot.
  run.compensations.register('end speculation (free the control slot)', () => endSpeculation(run));
  const request = {
    taskId: run.input.taskId,
    parentTaskId: parentId!.taskId,
    agent: run.input.agent,
    parentAgent: parentId!.agent,
    depth,
    ...(others.length ? { otherParents: others } : {}),
  };
  const summary = `admit: may this task speculate at depth ${depth}?`;
  // A local activity (local-admission): the admission is on every speculative hop's path, and as a regular
  // activity it cost an activity task round trip and a workflow task of its own.
  const local = patched('local-admission');
  const admit = () =>
    local
      ? localTaskActivities(QUICK_LOCAL, summary).admitSpeculation(request)
      : taskActivities(QUICK, summary).admitSpeculation(request);
  // A cancelled admission may still be applied by the control workflow after this task freed its slot,
  // leaking it until clean-up: with admission-awaited the answer is awaited (milliseconds), and a
  // rollback requested meanwhile takes effect right after, its compensation freeing the slot last.
  const awaited = patched('admission-awaited');
  const decision = awaited ? await CancellationScope.nonCancellable(admit) : await admit();
  if (awaited && run.rollbackRequest) await run.forward.cancelRequested;
  run.config = decision.config;
  if (!decision.allowed) {
    run.compensations.forget();
    run.state.speculation_status = decision.reason;
    log.info('speculation refused', { taskId: run.input.taskId, reason: decision.reason, detail: decision.detail });
    return false;
  }
  run.state.depth = depth;
  if (!(await lockBond(run, depth, decision.config))) return false;
  run.state.speculation_status = 'speculative';
  run.state.timestamps.speculated = new Date().toISOString();
  return true;
}

/**
 * A speculative task rolls back (`confirmation_timeout`) unless its parent's commitment lands within
 * `confirmation_timeout_ms`. Runs in the forward scope. The bond lock is non-cancellable, so this can start after a rollback
 * has already cancelled that scope (the parent failed while the lock was being retried after a
 * worker crash): the timer's cancellation is then expected, and must not surface as an unhandled
 * rejection, which would fail every workflow task and leave the task stuck.
 */
export function startConfirmationTimer(run: TaskRun): void {
  const timeoutMs = run.config!.speculation.confirmation_timeout_ms;
  void (async () => {
    try {
      // Once the parent's commitment has landed its outcome is settled: nothing is left to time out.
      const settled = () => run.parents.allConfirmed() || (run.pipelinedCommits && run.parents.allLanded());
      const ended = () =>
        FINAL_STATUSES.includes(run.state.status) ||
        Boolean(run.rollbackRequest) ||
        (run.endReasonFrozen && run.forwardEnded);
      if (!(await condition(() => settled() || ended(), timeoutMs))) run.requestRollback('confirmation_timeout');
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
  })();
}
