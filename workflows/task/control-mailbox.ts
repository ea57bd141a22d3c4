/**
 * What a task tells the `speculation-control` workflow (a slot to free, a slash's cooldown), delivered
 * in order even while that workflow is missing, e.g. closed and not yet restored.
 */
import { getExternalWorkflowHandle, isCancellation, log, sleep } from '@temporalio/workflow';
import { CONTROL_WORKFLOW_ID } from '../../shared/messages';
import { rootMessage } from '../task-decisions';

type ControlHandle = ReturnType<typeof getExternalWorkflowHandle>;
type Message = { what: string; send: (control: ControlHandle) => Promise<void> };

/**
 * How long a finished task keeps trying to tell the control workflow what it must hear while that
 * workflow is missing. Past it the control workflow's clean-up frees the slots; only the cooldown is
 * lost, and the log says so.
 */
const CONTROL_REDELIVERY_MS = 60 * 60_000;

export class ControlMailbox {
  /** Messages the control workflow could not take yet, in the order they were sent. */
  private readonly undelivered: Message[] = [];

  constructor(private readonly taskId: string) {}

  /**
   * Tells the control workflow something. Should it be missing, the message waits and goes after the
   * task is final (`deliverUndelivered`): no task fails, or keeps its dependents waiting, because the
   * control workflow is briefly away. Later messages queue behind a waiting one, keeping order.
   */
  async tell(what: string, send: Message['send']): Promise<void> {
    if (!this.undelivered.length) {
      try {
        await send(getExternalWorkflowHandle(CONTROL_WORKFLOW_ID));
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        log.warn('speculation-control did not take a message; it is sent again once this task is final', {
          taskId: this.taskId,
          what,
          error: rootMessage(err),
        });
      }
    }
    this.undelivered.push({ what, send });
  }

  /** Sends what the control workflow could not take, in order, retrying with backoff while it is restored. */
  async deliverUndelivered(waitFor: (what: string) => void): Promise<void> {
    const giveUpAt = Date.now() + CONTROL_REDELIVERY_MS;
    let delayMs = 1000;
    while (this.undelivered.length) {
      try {
        await this.undelivered[0]!.send(getExternalWorkflowHandle(CONTROL_WORKFLOW_ID));
        this.undelivered.shift();
        continue;
      } catch (err) {
        if (Date.now() >= giveUpAt) {
          log.error(
            "speculation-control stayed missing; its clean-up frees this task's slots, a slash cooldown is lost",
            {
              taskId: this.taskId,
              undelivered: this.undelivered.map((m) => m.what),
              error: rootMessage(err),
            },
          );
          return;
        }
      }
      waitFor(`speculation-control to be restored, to tell it: ${this.undelivered.map((m) => m.what).join(', ')}`);
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 60_000);
    }
  }
}
