/**
 * The `speculation-control` singleton, as the worker, the CLI, the admin API and activities reach it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { type Client, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { FAILURE_TYPES } from '../shared/activity-contract';
import { admitTasksUpdate, CONTROL_WORKFLOW_ID, MAX_ADMISSION_BATCH, controlStatusQuery, type ControlStatus, type TaskAdmission, taskClosedSignal } from '../shared/messages';
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

/** gRPC codes the server answers a busy workflow with: RESOURCE_EXHAUSTED (too many Updates in flight) and UNAVAILABLE (one aborted); worth another try. */
const BUSY_CODES = new Set([8, 14]);
const ADMISSION_ATTEMPTS = 8;

/**
 * One client's admissions, sent as one `admitTasks` Update at a time. The server allows only a few
 * Updates in flight per workflow (10 by default) and refuses more with RESOURCE_EXHAUSTED: a burst of
 * submissions from one process becomes one or two Updates instead of a thousand, and a refusal from a
 * busy server is retried under the same update id, so a retried batch is never admitted twice.
 */
class AdmissionQueue {
  private readonly waiting: Array<{ taskId: string; rawConfig?: Record<string, unknown>; resolve: (a: TaskAdmission) => void; reject: (e: unknown) => void }> = [];
  private flushing = false;

  constructor(private readonly client: Client) {}

  admit(taskId: string, rawConfig?: Record<string, unknown>): Promise<TaskAdmission> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ taskId, rawConfig, resolve, reject });
      // On the next turn, so the submissions of one burst join the same Update.
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.waiting.length) {
      const batch = this.waiting.splice(0, MAX_ADMISSION_BATCH);
      try {
        const answers = await this.send(batch.map((w) => w.taskId), batch.find((w) => w.rawConfig)?.rawConfig);
        batch.forEach((w, i) => w.resolve(answers[i]!));
      } catch (err) {
        batch.forEach((w) => w.reject(err));
      }
    }
    this.flushing = false;
  }

  private async send(taskIds: string[], rawConfig: Record<string, unknown> | undefined): Promise<TaskAdmission[]> {
    const updateId = `admit-${taskIds[0]}-${randomBytes(4).toString('hex')}`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await controlHandle(this.client).executeUpdate(admitTasksUpdate, { args: [{ taskIds }], updateId });
      } catch (err) {
        // The validator's refusal: nothing can be admitted; the same answer as the handler's, without entering the history.
        const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.tooManyPending) return taskIds.map(() => ({ admitted: false, message: cause.message }));
        if (err instanceof WorkflowNotFoundError && rawConfig) {
          await ensureControl(this.client, rawConfig);
          rawConfig = undefined;
          continue;
        }
        const code = (err as { cause?: { code?: number } }).cause?.code;
        if (!(err instanceof ServiceError && code !== undefined && BUSY_CODES.has(code)) || attempt >= ADMISSION_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
  }
}
const admissionQueues = new WeakMap<Client, AdmissionQueue>();

/**
 * Takes one of the `max_pending_operations` slots for `taskId`, counted exactly by the control
 * workflow; starts the control workflow with `rawConfig` first when given and it is missing.
 */
export function admitTask(client: Client, taskId: string, rawConfig?: Record<string, unknown>): Promise<TaskAdmission> {
  let queue = admissionQueues.get(client);
  if (!queue) admissionQueues.set(client, (queue = new AdmissionQueue(client)));
  return queue.admit(taskId, rawConfig);
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
