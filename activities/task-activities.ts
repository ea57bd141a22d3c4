/**
 * Activities on `agenc-tasks` that are not chain operations: reading the live configuration, asking
 * the control workflow to admit speculation, running a task type, reading a finished task.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { admitSpeculation, controlStatus } from '../temporal/control';
import type { TaskActivities } from '../shared/activity-contract';
import { FAILURE_TYPES } from '../shared/activity-contract';
import { taskStateQuery } from '../shared/messages';
import { taskWorkflowId } from '../shared/task-model';
import { commitSync, randomSalt } from './proof/fields';
import { checkPayload, getTaskType, TaskExecutionError } from './task-types/registry';

export interface TaskActivityDeps {
  client: Client;
  /** The configuration the control workflow starts with if it is not running yet. */
  rawConfig: () => Record<string, unknown>;
}

export function residentMemoryMb(): number {
  return Math.round(process.memoryUsage().rss / (1024 * 1024));
}

export function createTaskActivities(
  deps: TaskActivityDeps,
): Pick<TaskActivities, 'getSpeculationConfig' | 'admitSpeculation' | 'executeTask' | 'getTaskOutcome' | 'findClosedTasks'> {
  return {
    async getSpeculationConfig() {
      return (await controlStatus(deps.client, deps.rawConfig())).config;
    },

    async admitSpeculation(request) {
      // Batched with the other tasks of this worker process asking at the same moment (one Update in flight).
      return admitSpeculation(deps.client, { ...request, workerMemoryMb: residentMemoryMb() }, deps.rawConfig());
    },

    async executeTask({ taskId, type, payload, parentOutput }) {
      const checked = checkPayload(type, payload);
      if (!checked.ok) throw ApplicationFailure.nonRetryable(checked.message, FAILURE_TYPES.invalidPayload);
      try {
        const { output, proofValue, workMs } = getTaskType(type).execute(checked.payload, BigInt(parentOutput));
        // Heartbeats while working: a worker that dies is noticed within the heartbeat timeout.
        for (let left = workMs ?? 0; left > 0; left -= 1000) {
          await Context.current().sleep(Math.min(1000, left));
          Context.current().heartbeat();
        }
        const salt = randomSalt();
        return {
          output: output.toString(),
          salt: salt.toString(),
          commitment: commitSync(output, salt).toString(),
          proofValue: proofValue.toString(),
        };
      } catch (err) {
        if (err instanceof TaskExecutionError) {
          // Retryable: an agent's execution error may be transient; the workflow's retry policy bounds the attempts.
          throw ApplicationFailure.retryable(`task ${taskId}: ${err.message}`, FAILURE_TYPES.executionFailed);
        }
        throw err;
      }
    },

    async findClosedTasks(taskIds) {
      const closed: string[] = [];
      // A few describes at a time: the round is bounded (control workflow) and must not flood the frontend.
      for (let i = 0; i < taskIds.length; i += 10) {
        await Promise.all(
          taskIds.slice(i, i + 10).map(async (taskId) => {
            try {
              const { status } = await deps.client.workflow.getHandle(taskWorkflowId(taskId)).describe();
              if (status.name !== 'RUNNING') closed.push(taskId);
            } catch (err) {
              if (err instanceof WorkflowNotFoundError) closed.push(taskId);
              else throw err;
            }
          }),
        );
      }
      return closed;
    },

    async getTaskOutcome(taskId) {
      const handle = deps.client.workflow.getHandle(taskWorkflowId(taskId));
      try {
        return await handle.query(taskStateQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw ApplicationFailure.nonRetryable(`task ${taskId} does not exist`, 'UnknownTask');
        }
        throw err;
      }
    },
  };
}
