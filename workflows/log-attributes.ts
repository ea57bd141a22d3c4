/**
 * Workflow interceptor: every log line a task workflow writes carries its task id and its phase (the
 * lifecycle status it is in), so a log search for one task tells its story.
 */
import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

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
        const taskId = workflowId.startsWith('task-') ? workflowId.slice('task-'.length) : undefined;
        return next({ ...input, ...(taskId ? { taskId } : {}), ...(phase ? { phase } : {}) });
      },
    },
  ],
});
