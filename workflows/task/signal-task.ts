import { getExternalWorkflowHandle, log } from '@temporalio/workflow';
import { taskWorkflowId } from '../../shared/task-model';
import { rootMessage } from '../task-decisions';

/** Signals another task's workflow; a task that already finished needs nothing more from this one. */
export async function signalTask(
  taskId: string,
  send: (h: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>,
): Promise<void> {
  try {
    await send(getExternalWorkflowHandle(taskWorkflowId(taskId)));
  } catch (err) {
    log.debug('related task already finished; signal not delivered', { other: taskId, error: rootMessage(err) });
  }
}
