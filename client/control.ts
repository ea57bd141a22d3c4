/**
 * The `speculation-control` singleton, as the worker, the CLI, the admin API and activities reach it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { FAILURE_TYPES } from '../shared/activity-contract';
import { admitTaskUpdate, CONTROL_WORKFLOW_ID, controlStatusQuery, type ControlStatus, type TaskAdmission, taskClosedSignal } from '../shared/messages';
import { TASK_QUEUE } from '../shared/task-queues';
import type { speculationControl } from '../workflows/speculation-control';

export function controlHandle(client: Client) {
  return client.workflow.getHandle<typeof speculationControl>(CONTROL_WORKFLOW_ID);
}

/**
 * Starts the control workflow with this configuration unless it is already running (then the
 * running one, with its live configuration, wins: a worker restart never resets a rollout).
 */
export async function ensureControl(client: Client, rawConfig: Record<string, unknown>): Promise<void> {
  await client.workflow.start('speculationControl', {
    workflowId: CONTROL_WORKFLOW_ID,
    taskQueue: TASK_QUEUE,
    args: [{ rawConfig }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: 'Speculation control: live configuration and active speculative tasks',
    staticDetails:
      'Singleton holding the speculation configuration (changed by the `setConfig` update, validated by the config schema), ' +
      'the set of active speculative tasks, agent cooldowns, and drain/pause state. Signals: drain, pause, resume, forceRollback.',
  });
}

/** The control workflow's status; starts it with `rawConfig` first when given and it is missing. */
export async function controlStatus(client: Client, rawConfig?: Record<string, unknown>): Promise<ControlStatus> {
  try {
    return await controlHandle(client).query(controlStatusQuery);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError) || !rawConfig) throw err;
    await ensureControl(client, rawConfig);
    return controlHandle(client).query(controlStatusQuery);
  }
}

/**
 * Takes one of the `max_pending_operations` slots for `taskId`, counted exactly by the control
 * workflow; starts the control workflow with `rawConfig` first when given and it is missing.
 */
export async function admitTask(client: Client, taskId: string, rawConfig?: Record<string, unknown>): Promise<TaskAdmission> {
  const ask = () => controlHandle(client).executeUpdate(admitTaskUpdate, { args: [{ taskId }] });
  try {
    return await ask().catch(async (err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError) || !rawConfig) throw err;
      await ensureControl(client, rawConfig);
      return ask();
    });
  } catch (err) {
    // The validator's refusal: the same answer as the handler's, without entering the history.
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.tooManyPending) return { admitted: false, message: cause.message };
    throw err;
  }
}

/** Gives back a slot taken by `admitTask` whose workflow did not start. */
export async function withdrawAdmission(client: Client, taskId: string): Promise<void> {
  await controlHandle(client).signal(taskClosedSignal, { taskId, status: 'not_started' });
}

/** The runbook's `/admin/status` shape: `{"speculation": {"enabled", "active_tasks", "pending_rollbacks", ...}}`. */
export function statusBody(s: ControlStatus) {
  return {
    speculation: {
      enabled: s.enabled,
      active_tasks: s.active_tasks,
      open_tasks: s.open_tasks,
      pending_rollbacks: s.pending_rollbacks,
      rollout_percentage: s.rollout_percentage,
      mode: s.config.speculation.mode,
      draining: s.draining,
      paused: s.paused,
      config_version: s.config_version,
      updated_at: s.updated_at,
    },
  };
}
