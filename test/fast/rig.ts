/**
 * One test file's rig for the fast tier: the real Java time-skipping test server
 * (test/helpers/time-skipping.ts), the real workflows (`speculativeTask` by its registered name, and the
 * real `speculation-control`) from the workflow bundle, and in-process workers on the three task queues
 * serving the stub activities (stub-activities.ts). No dev server, no proofs, no chain.
 *
 * The test server's clock stands still unless a test moves it (`env.sleep`, here `advance`): until then
 * the workflows run in wall-clock time, which with stubs that answer at once is milliseconds. Moving it
 * skips only while nothing is in flight: the test server holds its clock while any activity is scheduled
 * or running (and while a workflow task or a signal is), so the timers that can be skipped are a
 * workflow's own (retry backoffs, a redelivery's backoff, a rollback's minute checks); an activity's
 * timeouts run in wall-clock time (see stub-activities.ts `behave.lost`).
 *
 * Rollbacks: a rollback cancels the activity a task is running. Should that activity end on the test
 * server at the very moment the cancellation is sent, the test server refuses the workflow task
 * ("ACTIVITY_UNKNOWN for scheduledEventId=…": it has the activity's end buffered, not in its pending
 * activities) and that workflow never gets another one; the real server takes both. So a test rolls a
 * task back only while it is idle (waiting for its ancestors or its parent) or while its activity is
 * held by the test (stub-activities.ts `hold`), which cannot end just then.
 */
import { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type InjectedSinks, Worker } from '@temporalio/worker';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getTaskState } from '../../client/tasks';
import { submitAsAgent } from '../helpers/agent-keys';
import { controlHandle, controlStatus, ensureControl } from '../../temporal/control';
import { type ControlStatus, forceRollbackSignal, setConfigUpdate } from '../../shared/messages';
import type { MetricsSinks } from '../../shared/metrics-sink';
import { FINAL_STATUSES, type TaskState, taskWorkflowId } from '../../shared/task-model';
import { CONTROL_QUEUE, PROOF_QUEUE, PROOF_VERIFICATION_QUEUE, TASK_QUEUE } from '../../shared/task-queues';
import { pollUntil } from '../helpers/poll';
import { startTimeSkippingEnv } from '../helpers/time-skipping';
import { workflowBundle } from './bundle';
import { StubActivities } from './stub-activities';
import { SPECULATIVE_CONFIG, templateWith } from '../helpers/speculative-config';

type Raw = Record<string, unknown>;

/** The bundle of test/fast/global-setup.ts or test/global-setup.ts, else this tree's (a file run by another config). */
async function workflowBundlePath(): Promise<string> {
  process.env.AGENC_TEST_WORKFLOW_BUNDLE ??= await workflowBundle();
  return process.env.AGENC_TEST_WORKFLOW_BUNDLE;
}

export interface MetricCall {
  name: keyof MetricsSinks['metrics'];
  args: unknown[];
}

export interface FastRig {
  env: TestWorkflowEnvironment;
  /** A plain client (not the environment's, whose `result()` lets the clock run free). */
  client: Client;
  stubs: StubActivities;
  rawConfig: Raw;
  /** The agents' key files (made on first submission as each agent): what the stub verifySubmission judges against. */
  keysDir: string;
  /** What the workflows reported through the metrics sink. */
  metrics: MetricCall[];
  /** Submits a `compute` task as the CLI does (admission by the control workflow, then the workflow start). */
  submit(taskId: string, opts?: { value?: number; dependsOn?: string; agent?: string }): Promise<string>;
  state(taskId: string): Promise<TaskState>;
  /** Polls the tasks' states until `ok` holds; with `advance`, moves the server's clock by that much between polls. */
  until(
    what: string,
    ids: string[],
    ok: (states: TaskState[]) => boolean,
    opts?: { advance?: Duration; timeoutMs?: number },
  ): Promise<TaskState[]>;
  /** Each task's final state (confirmed, failed or rolled_back). */
  final(ids: string[], opts?: { advance?: Duration; timeoutMs?: number }): Promise<TaskState[]>;
  /** Moves the server's clock in `step`s until `done` holds (checked between steps). */
  advanceUntil(what: string, done: () => boolean | Promise<boolean>, step?: Duration, maxSteps?: number): Promise<void>;
  control(): Promise<ControlStatus>;
  /** Polls the control workflow's status until `ok` holds. */
  controlUntil(
    what: string,
    ok: (s: ControlStatus) => boolean,
    opts?: { advance?: Duration; timeoutMs?: number },
  ): Promise<ControlStatus>;
  setConfig(changes: Record<string, unknown>): Promise<ControlStatus>;
  forceRollback(taskId: string): Promise<void>;
  /** Waits until the task's workflow has handled every `signalName` signal it received (a workflow task completed after the last). */
  signalHandled(taskId: string, signalName: string): Promise<void>;
  /** Stops the in-process worker of one task queue (nothing polls it until `startWorker`). */
  stopWorker(queue: typeof TASK_QUEUE | typeof PROOF_QUEUE | typeof PROOF_VERIFICATION_QUEUE): Promise<void>;
  startWorker(queue: typeof TASK_QUEUE | typeof PROOF_QUEUE | typeof PROOF_VERIFICATION_QUEUE): Promise<void>;
  /** The task workflow's execution status (RUNNING, COMPLETED…). */
  workflowStatus(taskId: string): Promise<string>;
  close(): Promise<void>;
}

const noop = { fn: () => undefined };

export async function startFastRig(opts: { config?: Raw } = {}): Promise<FastRig> {
  const codePath = await workflowBundlePath();
  const env = await startTimeSkippingEnv();
  const namespace = env.namespace ?? 'default';
  const client = new Client({ connection: env.connection, namespace });
  const rawConfig = templateWith(opts.config ?? SPECULATIVE_CONFIG);
  // The agents' keys: the submitter signs with them, the stub verifySubmission judges against them.
  const keysDir = mkdtempSync(path.join(os.tmpdir(), 'agenc-fast-keys-'));
  const stubs = new StubActivities(client, () => rawConfig, keysDir);
  const metrics: MetricCall[] = [];
  const record = (name: MetricCall['name']) =>
    ({
      fn: (_info: unknown, ...args: unknown[]) => void metrics.push({ name, args }),
      callDuringReplay: false,
    }) as const;
  const sinks: InjectedSinks<MetricsSinks> = {
    metrics: {
      taskStarted: record('taskStarted'),
      speculated: record('speculated'),
      confirmed: record('confirmed'),
      rolledBack: record('rolledBack'),
      bondSettled: record('bondSettled'),
      failed: record('failed'),
      cascaded: record('cascaded'),
    },
    rollout: { evidence: noop },
  };

  const common = { connection: env.nativeConnection, namespace, shutdownGraceTime: '1s' as Duration };
  const proofs = stubs.proofActivities();
  const workerOptions = {
    [TASK_QUEUE]: {
      ...common,
      taskQueue: TASK_QUEUE,
      workflowBundle: { codePath },
      activities: stubs.taskActivities(),
      sinks,
    },
    [CONTROL_QUEUE]: { ...common, taskQueue: CONTROL_QUEUE, workflowBundle: { codePath }, sinks },
    [PROOF_QUEUE]: { ...common, taskQueue: PROOF_QUEUE, activities: { generateProof: proofs.generateProof } },
    [PROOF_VERIFICATION_QUEUE]: {
      ...common,
      taskQueue: PROOF_VERIFICATION_QUEUE,
      activities: { verifyProof: proofs.verifyProof },
    },
  };
  type Queue = keyof typeof workerOptions;
  const workers = new Map<Queue, { worker: Worker; running: Promise<void> }>();
  const startWorker = async (queue: Queue) => {
    const worker = await Worker.create(workerOptions[queue]);
    workers.set(queue, { worker, running: worker.run() });
  };
  const stopWorker = async (queue: Queue) => {
    const w = workers.get(queue);
    workers.delete(queue);
    if (!w) return;
    if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
    await w.running.catch(() => undefined);
  };
  for (const queue of Object.keys(workerOptions) as Queue[]) await startWorker(queue);
  await ensureControl(client, rawConfig);

  const state = (taskId: string) => getTaskState(client, taskId);
  const until: FastRig['until'] = (what, ids, ok, o = {}) =>
    pollUntil(what, () => Promise.all(ids.map(state)), ok, {
      timeoutMs: o.timeoutMs ?? 15_000,
      everyMs: 50,
      advance: o.advance ? { env, by: o.advance } : undefined,
      show: (states) =>
        states.map((s) => [
          s.task_id,
          s.status,
          s.speculation_status,
          s.rollback_reason,
          s.bond?.state,
          s.waiting_for,
          s.error,
        ]),
    });

  const rig: FastRig = {
    env,
    client,
    stubs,
    rawConfig,
    keysDir,
    metrics,
    async submit(taskId, o = {}) {
      const req = { type: 'compute', payload: { value: o.value ?? 1 }, taskId, dependsOn: o.dependsOn, agent: o.agent };
      return (await submitAsAgent(client, keysDir, req, { rawConfig })).task_id;
    },
    state,
    until,
    final: (ids, o) =>
      until(`${ids.join(', ')} to end`, ids, (states) => states.every((s) => FINAL_STATUSES.includes(s.status)), o),
    async advanceUntil(what, done, step = '1 second', maxSteps = 200) {
      for (let i = 0; i < maxSteps; i++) {
        if (await done()) return;
        await env.sleep(step);
      }
      throw new Error(`${what}: not reached after ${maxSteps} steps of ${String(step)}`);
    },
    control: () => controlStatus(client),
    controlUntil: (what, ok, o = {}) =>
      pollUntil(what, () => controlStatus(client), ok, {
        timeoutMs: o.timeoutMs ?? 15_000,
        everyMs: 50,
        advance: o.advance ? { env, by: o.advance } : undefined,
        show: (s) => ({
          active: s.active,
          open: s.open_tasks,
          cooldowns: s.cooldowns,
          pending_rollbacks: s.pending_rollbacks,
        }),
      }),
    setConfig: (changes) => controlHandle(client).executeUpdate(setConfigUpdate, { args: [changes] }),
    forceRollback: (taskId) =>
      client.workflow.getHandle(taskWorkflowId(taskId)).signal(forceRollbackSignal, { reason: 'operator (test)' }),
    async workflowStatus(taskId) {
      return (await client.workflow.getHandle(taskWorkflowId(taskId)).describe()).status.name;
    },
    async signalHandled(taskId, signalName) {
      const { EventType } = temporal.api.enums.v1;
      await pollUntil(
        `${taskId} to handle its ${signalName} signal`,
        async () => (await client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory()).events ?? [],
        (events) => {
          const signalled = events
            .map(
              (e) =>
                e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED &&
                e.workflowExecutionSignaledEventAttributes?.signalName === signalName,
            )
            .lastIndexOf(true);
          return (
            signalled >= 0 &&
            events.slice(signalled).some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
          );
        },
        { timeoutMs: 10_000, everyMs: 50, show: (events) => events.length },
      );
    },
    stopWorker,
    startWorker,
    async close() {
      stubs.teardown();
      await Promise.all([...workers.keys()].map(stopWorker));
      await env.teardown();
    },
  };
  return rig;
}
