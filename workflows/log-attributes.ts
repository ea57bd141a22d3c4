/**
 * Workflow interceptor: every log line a task workflow writes carries its task id and its phase (the
 * lifecycle status it is in), so a log search for one task tells its story.
 */
import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { taskIdOfWorkflow } from '../shared/task-model';

let phase: string | undefined;

/** Called by the task workflow on every status change. */
export function setLogPhase(next: string): void {
  phase = next;
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      getLogAttributes(input, next) {
        const { workflowId } = workflowInfo();
        const taskId = taskIdOfWorkflow(workflowId);
        return next({ ...input, ...(taskId ? { taskId } : {}), ...(phase ? { phase } : {}) });
      },
    },
  ],
});
