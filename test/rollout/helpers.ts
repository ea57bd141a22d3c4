/**
 * A time-skipping Temporal (test/helpers/time-skipping.ts) with a worker running `rollout`,
 * `rolloutPhase` and `speculationControl` from the suite's workflow bundle, and the real rollout
 * activities reading from an injected metric source the test scripts. The visibility source is
 * exercised on the dev server instead (the test server cannot count workflows).
 */
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Duration } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { readTomlFile, TEMPLATE_PATH } from '../../config/load';
import { createRolloutActivities, createInjectedSource } from '../../activities/rollout-metrics';
import { CONTROL_WORKFLOW_ID, type ControlStatus, controlStatusQuery, rolloutStatusQuery } from '../../shared/messages';
import type { MetricWindow, RolloutReadings, RolloutStatus } from '../../shared/rollout-model';
import { rolloutWorkflowId } from '../../shared/rollout-model';
import { TASK_QUEUE } from '../../shared/task-queues';
import { startTimeSkippingEnv } from '../helpers/time-skipping';
import { createMetrics, metricsSinks, type SpeculationMetrics } from '../../workers/metrics';

/** Readings for one phase's nth evaluation (n from 1). */
export type Script = (phase: number, n: number, window: MetricWindow) => Partial<RolloutReadings>;

export interface TimeSkippingRig {
  env: TestWorkflowEnvironment;
  worker: Worker;
  /** Readings per rollout name; a rollout without a script reads a quiet, green system. */
  scripts: Map<string, Script>;
  /** Every reading asked for, by phase workflow id. */
  calls: Map<string, number>;
  /** The worker's metrics, fed by the workflows' sinks as on a real worker. */
  metrics: SpeculationMetrics;
  /** A rollout gauge's value for one rollout (undefined when the series is absent). */
  gauge(name: string, rollout: string): Promise<number | undefined>;
  /** The Current Details a workflow shows in the Web UI. */
  currentDetails(workflowId: string): Promise<string>;
  control(): Promise<ControlStatus>;
  status(name: string): Promise<RolloutStatus>;
  /**
   * A plain client on the same server. The environment's client unlocks time skipping while it waits
   * for a result; with nothing else to do, the test server then jumps straight to the next deadline
   * it knows, the control workflow's 10-year execution timeout. So results are awaited only by
   * `finish` (which advances in bounded steps first) through this client.
   */
  client: Client;
  /** Advances simulated time in steps until the rollout has ended; returns its result. */
  finish(name: string, step?: string): Promise<RolloutStatus>;
  /** Advances simulated time in steps until `done` holds (or throws after `maxSteps`). */
  advanceUntil(
    name: string,
    done: (s: RolloutStatus) => boolean,
    step?: string,
    maxSteps?: number,
  ): Promise<RolloutStatus>;
  close(): Promise<void>;
}

export const GREEN: Partial<RolloutReadings> = {
  speculativeTasks: 40,
  rollbacks: 0,
  proofQueueDepth: 1,
  proofQueueCapacity: 100,
};

export async function startTimeSkipping(): Promise<TimeSkippingRig> {
  const env = await startTimeSkippingEnv();
  const rawConfig = readTomlFile(TEMPLATE_PATH);
  const scripts = new Map<string, Script>();
  const calls = new Map<string, number>();
  const source = createInjectedSource((window, caller) => {
    const id = caller?.workflowId ?? '';
    const m = /^rollout-(.+)-phase-(\d+)$/.exec(id);
    const n = (calls.get(id) ?? 0) + 1;
    calls.set(id, n);
    const script = m ? scripts.get(m[1]!) : undefined;
    return script ? script(Number(m![2]), n, window) : GREEN;
  });
  const metrics = createMetrics();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: TASK_QUEUE,
    workflowBundle: { codePath: process.env.AGENC_TEST_WORKFLOW_BUNDLE! },
    activities: createRolloutActivities({ client: env.client, rawConfig: () => rawConfig, source, metrics }),
    sinks: metricsSinks(metrics),
  });
  const running = worker.run();
  await env.client.workflow.start('speculationControl', {
    workflowId: CONTROL_WORKFLOW_ID,
    taskQueue: TASK_QUEUE,
    args: [{ rawConfig }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  const client = new Client({ connection: env.connection, namespace: env.namespace ?? 'default' });
  const status = (name: string) => client.workflow.getHandle(rolloutWorkflowId(name)).query(rolloutStatusQuery);
  const rig: TimeSkippingRig = {
    env,
    worker,
    scripts,
    calls,
    metrics,
    client,
    async gauge(name, rollout) {
      const values = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
      return values.find((v) => v.labels.rollout === rollout)?.value;
    },
    async currentDetails(workflowId) {
      const md = await client.workflow
        .getHandle(workflowId)
        .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      return md.currentDetails ?? '';
    },
    async finish(name, step = '10 minutes') {
      await rig.advanceUntil(name, (s) => s.state === 'completed' || s.state === 'aborted', step);
      return client.workflow.getHandle(rolloutWorkflowId(name)).result() as Promise<RolloutStatus>;
    },
    control: () => client.workflow.getHandle(CONTROL_WORKFLOW_ID).query(controlStatusQuery),
    status,
    async advanceUntil(name, done, step = '10 minutes', maxSteps = 2000) {
      for (let i = 0; i < maxSteps; i++) {
        const s = await status(name);
        if (process.env.DEBUG_ROLLOUT)
          process.stderr.write(
            `${new Date().toISOString()} advance ${name} ${i}: ${s.state} ${s.current_phase} ${s.phases.map((p) => `${p.state}/${p.evaluations}`).join(' ')}\n`,
          );
        if (done(s)) return s;
        await env.sleep(step as Duration);
      }
      throw new Error(
        `rollout ${name} did not reach the expected state: ${JSON.stringify(await status(name), null, 1).slice(0, 3000)}`,
      );
    },
    async close() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
  return rig;
}
