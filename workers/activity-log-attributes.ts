/** Activity interceptor: the SDK's activity log lines carry the task id and the step (the activity type) as `phase`. */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { taskIdOfWorkflow } from '../shared/task-model';

export const activityLogAttributes: ActivityInterceptorsFactory = (ctx) => ({
  outbound: {
    getLogAttributes(input, next) {
      const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
      const taskId = taskIdOfWorkflow(workflowId);
      return next({ ...input, ...(taskId ? { taskId } : {}), phase: ctx.info.activityType });
    },
  },
});
