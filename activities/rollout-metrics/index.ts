/**
 * The rollout's activities: `readRolloutMetrics(window)` through the configured metric source,
 * `applyRolloutConfig` / `readControlConfig` through the control workflow's `setConfig` update and
 * `status` query (workflows cannot call another workflow's update), and `recordRolloutPhase` for the
 * `speculation_rollout_phase{rollout}` gauge.
 *
 * Source selection: `AGENC_ROLLOUT_METRICS` = `prometheus` | `visibility`; unset, Prometheus when
 * `PROMETHEUS_URL` is set, Temporal visibility otherwise (docker-compose.yml sets Prometheus and
 * Alertmanager). Visibility cannot see P1 alerts or memory growth, so its readings are never
 * evidence a phase may proceed on. Tests pass a source (e.g. an injected one).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { controlHandle, controlStatus } from '../../temporal/control';
import { setConfigUpdate } from '../../shared/messages';
import type { RolloutActivities } from '../../shared/rollout-model';
import { createInjectedSource, type ReadingsFn } from './injected-source';
import { createPrometheusSource } from './prometheus-source';
import type { RolloutMetricSource } from './source';
import { createVisibilitySource } from './visibility-source';

export { createInjectedSource, createPrometheusSource, createVisibilitySource };
export type { ReadingsFn, RolloutMetricSource };

export interface RolloutActivityDeps {
  client: Client;
  /** The configuration the control workflow starts with if it is not running yet. */
  rawConfig?: () => Record<string, unknown>;
  /** A source to use instead of the one the environment selects. */
  source?: RolloutMetricSource;
  /** The worker's metrics (for the rollout phase gauge). */
  metrics?: { rolloutPhase: { set(labels: { rollout: string }, value: number): void } };
  env?: NodeJS.ProcessEnv;
}

export function selectMetricSource(deps: {
  client: Client;
  rawConfig?: () => Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}): RolloutMetricSource {
  const env = deps.env ?? process.env;
  const choice = env.AGENC_ROLLOUT_METRICS ?? (env.PROMETHEUS_URL ? 'prometheus' : 'visibility');
  if (choice === 'prometheus') {
    if (!env.PROMETHEUS_URL)
      throw new Error('AGENC_ROLLOUT_METRICS=prometheus needs PROMETHEUS_URL (e.g. http://localhost:9091)');
    return createPrometheusSource({
      prometheusUrl: env.PROMETHEUS_URL,
      alertmanagerUrl: env.ALERTMANAGER_URL || undefined,
    });
  }
  if (choice === 'visibility') return createVisibilitySource(deps);
  throw new Error(`AGENC_ROLLOUT_METRICS=${choice} is not a metric source (use prometheus or visibility)`);
}

export function createRolloutActivities(deps: RolloutActivityDeps): RolloutActivities {
  let source = deps.source;
  const live = async () => {
    const s = await controlStatus(deps.client, deps.rawConfig?.());
    return {
      rollout_percentage: s.rollout_percentage,
      max_parallel_branches: s.config.speculation.max_parallel_branches,
      enabled: s.enabled,
    };
  };
  return {
    async readRolloutMetrics(window) {
      const active = (source ??= selectMetricSource(deps));
      let caller: { workflowId: string } | undefined;
      try {
        const workflowId = Context.current().info.workflowExecution?.workflowId;
        if (workflowId) caller = { workflowId };
      } catch {
        // called outside an activity (a script or a test): no caller
      }
      return active.read(window, caller);
    },
    async applyRolloutConfig(changes) {
      await controlStatus(deps.client, deps.rawConfig?.());
      try {
        const s = await controlHandle(deps.client).executeUpdate(setConfigUpdate, { args: [changes] });
        return {
          rollout_percentage: s.rollout_percentage,
          max_parallel_branches: s.config.speculation.max_parallel_branches,
          enabled: s.enabled,
        };
      } catch (err) {
        // A rejected change (out of range) will be rejected again: do not retry it.
        if (err instanceof WorkflowUpdateFailedError) {
          throw ApplicationFailure.nonRetryable(
            `setConfig rejected ${JSON.stringify(changes)}: ${(err.cause as Error | undefined)?.message ?? err.message}`,
            'ConfigRejected',
          );
        }
        throw err;
      }
    },
    readControlConfig: live,
    async recordRolloutPhase({ rollout, phase }) {
      deps.metrics?.rolloutPhase.set({ rollout }, phase);
    },
  };
}

/** Convenience for tests: the activities with readings from `fn`. */
export function createRolloutActivitiesWithReadings(client: Client, fn: ReadingsFn): RolloutActivities {
  return createRolloutActivities({ client, source: createInjectedSource(fn) });
}
