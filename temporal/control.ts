/**
 * The `speculation-control` singleton, as the worker, the CLI, the admin API and activities reach it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import {
  type Client,
  QueryRejectedError,
  ServiceError,
  WorkflowClient,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { FAILURE_TYPES } from '../shared/activity-contract';
import {
  admitSpeculationsUpdate,
  admitTasksUpdate,
  CONTROL_WORKFLOW_ID,
  type ControlSnapshot,
  controlSnapshotQuery,
  controlStatusQuery,
  type ControlStatus,
  MAX_ADMISSION_BATCH,
  MAX_SPECULATION_BATCH,
  type SpeculationDecision,
  type SpeculationRequest,
  type TaskAdmission,
  taskClosedSignal,
} from '../shared/messages';
import { CONTROL_QUEUE } from '../shared/task-queues';
import type { speculationControl } from '../workflows/speculation-control';

export function controlHandle(client: Client) {
  return client.workflow.getHandle<typeof speculationControl>(CONTROL_WORKFLOW_ID);
}

/** What an operator runs to bring the control workflow back when it cannot be restored by itself. */
export const RESTORE_CONTROL_COMMAND = 'agenc speculation restore-control';

/** The control workflow is not running, and nothing here may start it (or its last state could not be read). */
export class ControlNotRunningError extends Error {
  readonly type = 'ControlNotRunning';
}

/** How long reading a closed run's last state may take: a worker on agenc-tasks replays its history to answer. */
const SNAPSHOT_QUERY_TIMEOUT_MS = 20_000;

/** Queries that only a running control workflow answers: a closed run's last state must never pass for the live one. */
const liveClients = new WeakMap<Client, WorkflowClient>();
function liveControlHandle(client: Client) {
  let live = liveClients.get(client);
  if (!live) {
    live = new WorkflowClient({ ...client.workflow.options, queryRejectCondition: 'NOT_OPEN' });
    liveClients.set(client, live);
  }
  return live.getHandle<typeof speculationControl>(CONTROL_WORKFLOW_ID);
}

function startControl(client: Client, input: ControlSnapshot, reuse: 'ALLOW_DUPLICATE' | 'REJECT_DUPLICATE') {
  return client.workflow.start('speculationControl', {
    workflowId: CONTROL_WORKFLOW_ID,
    taskQueue: CONTROL_QUEUE,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: reuse,
    staticSummary: 'Speculation control: live configuration and active speculative tasks',
    staticDetails:
      'Singleton holding the speculation configuration (changed by the `setConfig` update, validated by the config schema), ' +
      'the set of active speculative tasks, agent cooldowns, and drain/pause state. Signals: drain, pause, resume, forceRollback.',
  });
}

export type EnsureOutcome =
  { outcome: 'running' } | { outcome: 'started' } | { outcome: 'restored'; closedAs: string; closedAt: string | null };

/**
 * Makes sure the control workflow runs, never resetting live state. The very first start takes the
 * configuration file's `fileConfig`. A run that closed (terminated by an operator, failed) is restored
 * from its own last state: its snapshot query, answered by a worker replaying its history; the file is
 * not read then. When that state cannot be read nothing is started: the error says what to run.
 */
export async function ensureControl(client: Client, fileConfig: Record<string, unknown>): Promise<EnsureOutcome> {
  for (let attempt = 1; ; attempt++) {
    let description;
    try {
      description = await controlHandle(client).describe();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    try {
      if (!description) {
        // REJECT_DUPLICATE: should a run have closed since the describe, it is restored on the next round instead.
        await startControl(client, { rawConfig: fileConfig }, 'REJECT_DUPLICATE');
        return { outcome: 'started' };
      }
      if (description.status.name === 'RUNNING') return { outcome: 'running' };
      const closedAs = description.status.name;
      const closedAt = description.closeTime?.toISOString() ?? null;
      let snapshot: ControlSnapshot;
      try {
        const closedRun = client.workflow.getHandle<typeof speculationControl>(CONTROL_WORKFLOW_ID, description.runId);
        snapshot = await client.connection.withDeadline(Date.now() + SNAPSHOT_QUERY_TIMEOUT_MS, () =>
          closedRun.query(controlSnapshotQuery),
        );
      } catch (err) {
        throw new ControlNotRunningError(
          `speculation-control closed as ${closedAs}${closedAt ? ` at ${closedAt}` : ''} and its last state could not be read ` +
            `(${(err as Error).message}); nothing was started, so no live setting is lost. A worker on the agenc-tasks queue must be running to ` +
            `read it: start one and retry \`${RESTORE_CONTROL_COMMAND}\`, or start control from a configuration file with ` +
            `\`${RESTORE_CONTROL_COMMAND} --from-config <file>\` (live changes, pause/drain, cooldowns and slots of the closed run are then lost)`,
        );
      }
      await startControl(client, snapshot, 'ALLOW_DUPLICATE');
      return { outcome: 'restored', closedAs, closedAt };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError && attempt < 3) continue;
      throw err;
    }
  }
}

/**
 * Starts the control workflow from a configuration file, by an operator's explicit choice, when no run is
 * open: what a closed run whose state cannot be read is brought back with. A running one is left alone.
 */
export async function startControlFromFile(
  client: Client,
  fileConfig: Record<string, unknown>,
): Promise<'running' | 'started'> {
  try {
    const d = await controlHandle(client).describe();
    if (d.status.name === 'RUNNING') return 'running';
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  await startControl(client, { rawConfig: fileConfig }, 'ALLOW_DUPLICATE');
  return 'started';
}

function notRunning(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || err instanceof QueryRejectedError;
}

/**
 * The running control workflow's status. With `restoreWith` (the configuration file, for its very first
 * start) a missing or closed control workflow is brought back first, as `ensureControl` does; without it
 * a control workflow that is not running is a ControlNotRunningError saying what to run.
 */
export async function controlStatus(client: Client, restoreWith?: Record<string, unknown>): Promise<ControlStatus> {
  try {
    return await liveControlHandle(client).query(controlStatusQuery);
  } catch (err) {
    if (!notRunning(err)) throw err;
    if (!restoreWith) {
      throw new ControlNotRunningError(
        `speculation-control is not running; a worker brings it back with its last state when it starts or admits a task, or run \`${RESTORE_CONTROL_COMMAND}\``,
      );
    }
    await ensureControl(client, restoreWith);
    return liveControlHandle(client).query(controlStatusQuery);
  }
}

/** gRPC codes the server answers a busy workflow with: RESOURCE_EXHAUSTED (too many Updates in flight) and UNAVAILABLE (one aborted); worth another try. */
const BUSY_CODES = new Set([8, 14]);
const UPDATE_ATTEMPTS = 8;

/**
 * Requests to the control workflow from one client, sent as one batched Update at a time. The server
 * allows only a few Updates in flight per workflow (10 by default) and refuses more with
 * RESOURCE_EXHAUSTED, and a singleton flooded with concurrent Updates spends its time discarding
 * workflow tasks: a burst from one process (a thousand submissions, or every task of a tree asking to
 * speculate) becomes one or two Updates instead. A refusal from a busy server is retried under the same
 * update id, so a retried batch is never applied twice; a missing control workflow is started first.
 */
class ControlBatcher<Item, Answer> {
  private readonly waiting: Array<{ item: Item; resolve: (a: Answer) => void; reject: (e: unknown) => void }> = [];
  private flushing = false;

  constructor(
    private readonly client: Client,
    private readonly name: string,
    private readonly maxBatch: number,
    private readonly update: (items: Item[], updateId: string) => Promise<Answer[]>,
  ) {}

  submit(item: Item, rawConfig?: Record<string, unknown>): Promise<Answer> {
    if (rawConfig) this.rawConfig = rawConfig;
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      // On the next turn, so the requests of one burst join the same Update.
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** The configuration to start the control workflow with if it is missing. */
  private rawConfig: Record<string, unknown> | undefined;

  private async flush(): Promise<void> {
    while (this.waiting.length) {
      const batch = this.waiting.splice(0, this.maxBatch);
      try {
        const answers = await this.send(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(answers[i]!));
      } catch (err) {
        batch.forEach((w) => w.reject(err));
      }
    }
    this.flushing = false;
  }

  private async send(items: Item[]): Promise<Answer[]> {
    const updateId = `${this.name}-${randomBytes(6).toString('hex')}`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.update(items, updateId);
      } catch (err) {
        if (notRunning(err) && this.rawConfig && attempt < UPDATE_ATTEMPTS) {
          await ensureControl(this.client, this.rawConfig);
          continue;
        }
        const code = (err as { cause?: { code?: number } }).cause?.code;
        if (!(err instanceof ServiceError && code !== undefined && BUSY_CODES.has(code)) || attempt >= UPDATE_ATTEMPTS)
          throw err;
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
  }
}

const batchers = new WeakMap<
  Client,
  {
    admissions: ControlBatcher<string, TaskAdmission>;
    speculations: ControlBatcher<SpeculationRequest, SpeculationDecision>;
  }
>();

function batchersOf(client: Client) {
  let b = batchers.get(client);
  if (!b) {
    b = {
      admissions: new ControlBatcher(client, 'admit', MAX_ADMISSION_BATCH, async (taskIds, updateId) => {
        try {
          return await controlHandle(client).executeUpdate(admitTasksUpdate, { args: [{ taskIds }], updateId });
        } catch (err) {
          // The validator's refusal: nothing can be admitted; the same answer as the handler's, without entering the history.
          const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
          if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.tooManyPending)
            return taskIds.map(() => ({ admitted: false, message: cause.message }));
          throw err;
        }
      }),
      speculations: new ControlBatcher(client, 'speculate', MAX_SPECULATION_BATCH, async (requests, updateId) => {
        const { config, verdicts } = await controlHandle(client).executeUpdate(admitSpeculationsUpdate, {
          args: [{ requests }],
          updateId,
        });
        return verdicts.map((v) => ({ ...v, config }));
      }),
    };
    batchers.set(client, b);
  }
  return b;
}

/**
 * Takes one of the `max_pending_operations` slots for `taskId`, counted exactly by the control
 * workflow; starts the control workflow with `rawConfig` first when given and it is missing.
 */
export function admitTask(client: Client, taskId: string, rawConfig?: Record<string, unknown>): Promise<TaskAdmission> {
  return batchersOf(client).admissions.submit(taskId, rawConfig);
}

/** May this task speculate? Every limit that spans tasks is checked by the control workflow at once; allowed means counted as active. */
export function admitSpeculation(
  client: Client,
  request: SpeculationRequest,
  rawConfig?: Record<string, unknown>,
): Promise<SpeculationDecision> {
  return batchersOf(client).speculations.submit(request, rawConfig);
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
      // Adaptive speculation: the depth it allows now and the evidence since it last changed (null from an older run).
      adaptive: s.adaptive ?? null,
      // The circuit breaker: why and until when speculation switched itself off; null while armed.
      auto_disabled: s.auto_disabled ?? null,
    },
  };
}
