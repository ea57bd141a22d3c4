/**
 * Readings from Temporal visibility over the project's search attributes: works with nothing but
 * Temporal running (no Prometheus). Counts, for `speculativeTask` workflows started in the window:
 * - speculative tasks: AgencSpeculationStatus = "speculative" (the task keeps it after confirmation);
 * - rollbacks: of those, AgencStatus "rolled_back" or "failed". A speculative task that fails on its
 *   own (proof failure after bonding) ends `failed`, and the worker counts it in
 *   `speculation_rollback_total` too (workflows/task/rollback.ts), so both sources agree.
 * Proof queue: running tasks with AgencStatus = "proving" (waiting in `agenc-proofs` or being proven)
 * against `[speculation.proof] queue_size` from the live configuration, the backlog counted as full.
 * Memory growth and P1 alerts cannot be seen in visibility: reported `unknown` (with 0 / none in
 * their fields and a note), so no phase proceeds on this source without an operator's approve.
 */
import type { Client } from '@temporalio/client';
import { controlStatus } from '../../temporal/control';
import { SA } from '../../shared/search-attributes';
import { rate, type MetricWindow, type RolloutMetricSource, type RolloutReadings } from './source';

const TASKS = 'WorkflowType="speculativeTask"';

export function visibilityQueries(window: MetricWindow) {
  const inWindow = `${TASKS} AND StartTime >= "${window.start}" AND StartTime <= "${window.end}"`;
  const speculative = `${inWindow} AND ${SA.speculationStatus.name}="speculative"`;
  return {
    speculative,
    rollbacks: `${speculative} AND ${SA.status.name} IN ("rolled_back", "failed")`,
    proving: `${TASKS} AND ExecutionStatus="Running" AND ${SA.status.name}="proving"`,
  };
}

export function createVisibilitySource(deps: {
  client: Client;
  rawConfig?: () => Record<string, unknown>;
}): RolloutMetricSource {
  return {
    name: 'visibility',
    async read(window): Promise<RolloutReadings> {
      const q = visibilityQueries(window);
      const [speculative, rollbacks, proving, status] = await Promise.all([
        deps.client.workflow.count(q.speculative),
        deps.client.workflow.count(q.rollbacks),
        deps.client.workflow.count(q.proving),
        controlStatus(deps.client, deps.rawConfig?.()),
      ]);
      return {
        speculativeTasks: speculative.count,
        rollbacks: rollbacks.count,
        rollbackRate: rate(rollbacks.count, speculative.count),
        memoryGrowthPerHour: 0,
        proofQueueDepth: proving.count,
        proofQueueCapacity: status.config.speculation.proof.queue_size,
        p1Alerts: [],
        unknown: ['p1_alerts', 'memory_growth'],
        source: 'visibility',
        notes: [
          'memory growth: not visible in Temporal visibility (0); use the Prometheus source (PROMETHEUS_URL) for it',
          'P1 alerts: not visible in Temporal visibility; set PROMETHEUS_URL or ALERTMANAGER_URL',
        ],
      };
    },
  };
}
