/** The interface every rollout metric source implements, and the readings' arithmetic they share. */
import type { MetricWindow, RolloutReadings } from '../../shared/rollout-model';

export type { MetricWindow, RolloutReadings };

export interface RolloutMetricSource {
  /** Short name, reported with each reading (`visibility`, `prometheus`, `injected`). */
  readonly name: string;
  /** `caller`: the workflow id of the phase asking (`rollout-<name>-phase-<n>`), when read from the activity. */
  read(window: MetricWindow, caller?: { workflowId: string }): Promise<RolloutReadings>;
}

export function rate(rollbacks: number, tasks: number): number {
  return tasks > 0 ? rollbacks / tasks : 0;
}
