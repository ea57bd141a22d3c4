/**
 * A task's deadline (`agenc task submit --deadline`): the time it must be confirmed by. It bounds the whole
 * forward run, the wait for its parents included; a commitment already under way when it passes still lands
 * (a rollback no longer takes effect then). Tasks without one never set a timer, so their histories are
 * what they were.
 */
import { condition, isCancellation, log } from '@temporalio/workflow';
import { claimWindowOpen } from '../task-decisions';
import type { TaskRun } from './task-run';

/** Rolls the task back (`claim_expired`, bond released) if its deadline passes before its forward run ends. */
export function startDeadlineTimer(run: TaskRun): void {
  const { deadline } = run.input;
  if (!deadline) return;
  const leftMs = Math.max(0, Date.parse(deadline) - Date.now());
  void (async () => {
    try {
      const ended = () => Boolean(run.rollbackRequest) || run.forwardEnded;
      if (!(await condition(ended, leftMs))) {
        run.state.error = `deadline ${deadline} passed in status ${run.state.status}`;
        run.requestRollback('claim_expired');
      }
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
  })();
}

/**
 * Is there time left to speculate (more than `speculation.claim_buffer_ms` before the deadline)? If not, the
 * task is refused as `claim_window` and waits for its parents' confirmation like any refused task.
 */
export function claimWindowAllowsSpeculation(run: TaskRun): boolean {
  const bufferMs = run.config!.speculation.claim_buffer_ms;
  if (claimWindowOpen(run.input.deadline, Date.now(), bufferMs)) return true;
  run.state.speculation_status = 'claim_window';
  log.info('speculation refused: too little of the claim window left', {
    taskId: run.input.taskId,
    deadline: run.input.deadline,
    claimBufferMs: bufferMs,
  });
  return false;
}
