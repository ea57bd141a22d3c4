/**
 * Activities on `agenc-tasks` that are not chain operations: reading the live configuration, asking
 * the control workflow to admit speculation, running a task type, reading a finished task.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { TemporalFailure } from '@temporalio/common';
import { admitSpeculation, controlStatus } from '../temporal/control';
import { RetryRefused, startNextAttempt } from '../temporal/attempts';
import type { TaskActivities } from '../shared/activity-contract';
import { FAILURE_TYPES } from '../shared/activity-contract';
import { taskStateQuery } from '../shared/messages';
import { taskWorkflowId } from '../shared/task-model';
import { commitSync, randomSalt } from './proof/fields';
import { systemFault } from './proof/system-fault';
import { saturationSampler } from './saturation';
import { checkPayload, findTaskType, TaskExecutionError, taskTypeNames } from './task-types/registry';

export interface TaskActivityDeps {
  client: Client;
  /** The configuration the control workflow starts with if it is not running yet. */
  rawConfig: () => Record<string, unknown>;
  /** Proofs waiting in `agenc-proofs` (system-wide), for adaptive speculation; absent: not judged. */
  proofBacklog?: () => Promise<number>;
}

export function residentMemoryMb(): number {
  return Math.round(process.memoryUsage().rss / (1024 * 1024));
}

export function createTaskActivities(
  deps: TaskActivityDeps,
): Pick<
  TaskActivities,
  | 'getSpeculationConfig'
  | 'admitSpeculation'
  | 'executeTask'
  | 'undoTask'
  | 'getTaskOutcome'
  | 'findClosedTasks'
  | 'restartDependents'
> {
  const saturation = saturationSampler(deps.proofBacklog);
  return {
    async getSpeculationConfig() {
      return (await controlStatus(deps.client, deps.rawConfig())).config;
    },

    async admitSpeculation(request) {
      // Batched with the other tasks of this worker process asking at the same moment (one Update in flight).
      const load = await saturation();
      return admitSpeculation(
        deps.client,
        { ...request, ...load, workerMemoryMb: residentMemoryMb() },
        deps.rawConfig(),
      );
    },

    /**
     * Only a TaskExecutionError from the task type is the agent's failure (ExecutionFailed). The
     * submission was checked against the type and its payload schema (client/tasks.ts refuses an
     * unknown type or a bad payload), so a type or schema this worker does not have is a worker that
     * lags the submitter, and any other error is the task type's code or this worker: a retryable
     * SystemFault, which another worker may run and which never slashes.
     */
    async executeTask({ taskId, type, payload, parentOutputs, parentOutput, attempt }) {
      const taskType = findTaskType(type);
      if (!taskType) {
        throw systemFault({
          fault: 'UnknownTaskType',
          component: 'task worker',
          message:
            `task ${taskId}: task type "${type}" is unknown to this worker (it knows: ${taskTypeNames().join(', ')}); ` +
            'the submission was accepted, so this worker lags the submitter: deploy the task type to every agenc-tasks worker',
          details: { taskType: type, known: taskTypeNames() },
        });
      }
      const checked = checkPayload(type, payload);
      if (!checked.ok) {
        throw systemFault({
          fault: 'PayloadSchemaMismatch',
          component: 'task worker',
          message:
            `task ${taskId}: ${checked.message}; the payload passed this check at submission, ` +
            `so this worker's "${type}" schema differs from the submitter's: deploy one version of the task type to every agenc-tasks worker`,
          details: { taskType: type },
        });
      }
      try {
        // Workflows started before task graphs send their one parent's output ("0" for a root).
        const consumed = (parentOutputs ?? [parentOutput ?? '0']).map((o) => BigInt(o));
        const { output, proofValue, workMs } = await taskType.execute(checked.payload, consumed, {
          taskId,
          attempt: attempt ?? 1,
        });
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
        if (err instanceof TemporalFailure) throw err; // cancelled while working
        throw systemFault({
          fault: `TaskTypeError (${err instanceof Error ? err.name : typeof err})`,
          component: 'task worker',
          message: `task ${taskId}: task type "${type}" failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
          cause: err,
          details: { taskType: type },
        });
      }
    },

    /**
     * A type this worker does not know, or an undo that throws, is a retryable SystemFault: the compensation
     * is retried (another worker may have the type) and the rollback waits for it, because a parent must not
     * settle while its dependent's effects may still be in place.
     */
    async undoTask({ taskId, type, payload, attempt, output }) {
      const taskType = findTaskType(type);
      if (!taskType) {
        throw systemFault({
          fault: 'UnknownTaskType',
          component: 'task worker',
          message: `task ${taskId}: cannot undo task type "${type}": unknown to this worker (it knows: ${taskTypeNames().join(', ')})`,
          details: { taskType: type, known: taskTypeNames() },
        });
      }
      if (!taskType.undo) return null;
      const checked = checkPayload(type, payload);
      const undone = await taskType.undo(checked.ok ? checked.payload : payload, {
        taskId,
        attempt,
        output: output === null ? null : BigInt(output),
      });
      return { undone };
    },

    async restartDependents({ taskId, attempt, dependents }) {
      const restarted: Array<{ taskId: string; attempt: number }> = [];
      const left: string[] = [];
      for (const dependent of dependents) {
        try {
          const next = await startNextAttempt(deps.client, dependent, {
            subtree: true,
            onlyAfterParentFailure: true,
            rawConfig: deps.rawConfig(),
          });
          if (next) restarted.push({ taskId: dependent, attempt: next.attempt });
          else left.push(dependent);
        } catch (err) {
          if (!(err instanceof RetryRefused)) throw err;
          if (err.code === 'unknown_task') {
            left.push(dependent);
            continue;
          }
          // Still closing, or no admission slot yet: the whole activity runs again (those restarted are skipped).
          throw ApplicationFailure.retryable(
            `task ${taskId} attempt ${attempt}: dependent ${dependent} cannot restart yet: ${err.message}`,
            'RestartNotYet',
          );
        }
      }
      return { restarted, left };
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
