/**
 * A source whose readings come from a function the caller provides: tests drive the decision matrix
 * through it (the activity, the workflows and the config changes are all real). Missing fields are
 * filled with a quiet system's values; `unknown` passes through (a test can play a blind source).
 */
import { rate, type MetricWindow, type RolloutMetricSource, type RolloutReadings } from './source';

export type ReadingsFn = (
  window: MetricWindow,
  caller?: { workflowId: string },
) => Partial<RolloutReadings> | Promise<Partial<RolloutReadings>>;

export function createInjectedSource(fn: ReadingsFn): RolloutMetricSource {
  return {
    name: 'injected',
    async read(window, caller) {
      const r = await fn(window, caller);
      const speculativeTasks = r.speculativeTasks ?? 0;
      const rollbacks = r.rollbacks ?? 0;
      return {
        speculativeTasks,
        rollbacks,
        rollbackRate: r.rollbackRate ?? rate(rollbacks, speculativeTasks),
        memoryGrowthPerHour: r.memoryGrowthPerHour ?? 0,
        proofQueueDepth: r.proofQueueDepth ?? 0,
        proofQueueCapacity: r.proofQueueCapacity ?? 100,
        p1Alerts: r.p1Alerts ?? [],
        source: 'injected',
        ...(r.unknown ? { unknown: r.unknown } : {}),
        ...(r.notes ? { notes: r.notes } : {}),
      };
    },
  };
}
