/**
 * Readings from Prometheus (`PROMETHEUS_URL`): instant queries, at the window's end, of the recording
 * rules in config/prometheus/rules/speculation.rules.yml, so the rollout judges exactly what the
 * alerts judge. Those rules look back a fixed hour; the window's start is not used (the default
 * plan's `metric_window` is the same hour).
 * P1 alerts: Alertmanager's API (`GET /api/v2/alerts`) when `ALERTMANAGER_URL` is set (it knows
 * silences and inhibitions), otherwise Prometheus's own `ALERTS{alertstate="firing",severity="P1"}`.
 */
import type { ObservedSignal } from '../../shared/rollout-model';
import { rate, type MetricWindow, type RolloutMetricSource, type RolloutReadings } from './source';

export const PROMETHEUS_QUERIES = {
  rollbackRate: 'speculation:rollback_rate:ratio_rate1h',
  speculativeTasks: 'speculation:speculative_tasks_started:increase1h',
  /** Ratio of memory now to an hour ago, per worker: the worst worker decides. */
  memoryGrowth: 'max(speculation:memory_growth:ratio1h)',
  proofQueueDepth: 'sum(speculation_proof_queue_depth)',
  proofQueueCapacity: 'sum(speculation_proof_queue_capacity)',
  p1Alerts: 'ALERTS{alertstate="firing",severity="P1"}',
} as const;

type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;

export interface PrometheusSourceOptions {
  prometheusUrl: string;
  alertmanagerUrl?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export function createPrometheusSource(opts: PrometheusSourceOptions): RolloutMetricSource {
  const doFetch = opts.fetch ?? fetch;
  const base = opts.prometheusUrl.replace(/\/+$/, '');
  const get = async (url: string): Promise<unknown> => {
    const res = await doFetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${url.split('?')[0]} answered ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
  const query = async (q: string, at: string): Promise<Vector> => {
    const body = (await get(
      `${base}/api/v1/query?${new URLSearchParams({ query: q, time: String(Date.parse(at) / 1000) })}`,
    )) as {
      status: string;
      data?: { resultType: string; result: Vector };
      error?: string;
    };
    if (body.status !== 'success' || !body.data)
      throw new Error(`Prometheus query ${q} failed: ${body.error ?? body.status}`);
    if (body.data.resultType !== 'vector')
      throw new Error(`Prometheus query ${q} returned ${body.data.resultType}, expected a vector`);
    return body.data.result;
  };
  const scalar = (v: Vector): number | undefined => {
    const values = v.map((s) => Number(s.value[1])).filter((x) => Number.isFinite(x));
    return values.length ? Math.max(...values) : undefined;
  };
  const p1FromAlertmanager = async (): Promise<string[]> => {
    const url = `${opts.alertmanagerUrl!.replace(/\/+$/, '')}/api/v2/alerts?${new URLSearchParams({ active: 'true', silenced: 'false', inhibited: 'false', filter: 'severity="P1"' })}`;
    const alerts = (await get(url)) as Array<{ labels?: Record<string, string>; status?: { state?: string } }>;
    return alerts
      .filter((a) => a.labels?.severity === 'P1' && (a.status?.state ?? 'active') === 'active')
      .map((a) => a.labels?.alertname ?? 'unnamed');
  };

  return {
    name: 'prometheus',
    async read(window: MetricWindow): Promise<RolloutReadings> {
      const at = window.end;
      const q = PROMETHEUS_QUERIES;
      const [rateV, tasksV, memV, depthV, capV, p1] = await Promise.all([
        query(q.rollbackRate, at),
        query(q.speculativeTasks, at),
        query(q.memoryGrowth, at),
        query(q.proofQueueDepth, at),
        query(q.proofQueueCapacity, at),
        opts.alertmanagerUrl
          ? p1FromAlertmanager()
          : query(q.p1Alerts, at).then((v) => v.map((s) => s.metric.alertname ?? 'unnamed')),
      ]);
      const notes: string[] = [];
      // increase() extrapolates: round to whole tasks.
      const speculativeTasks = Math.round(scalar(tasksV) ?? 0);
      const observedRate = scalar(rateV);
      if (observedRate === undefined)
        notes.push('rollback rate: no result (nothing speculative started in the last hour)');
      const rollbackRate = observedRate ?? 0;
      const memRatio = scalar(memV);
      // Not a quiet 0: nobody has seen the memory yet, and a phase must not proceed on it.
      if (memRatio === undefined) notes.push('memory growth: no result (a worker needs an hour of history): unknown');
      const [depth, capacity] = [scalar(depthV), scalar(capV)];
      // No sample (a worker that cannot read speculation-control drops its gauges): unknown, never an empty queue.
      if (depth === undefined || capacity === undefined)
        notes.push('proof queue: no result (speculation_control_up 0, or no worker scraped): unknown');
      const unknown: ObservedSignal[] = [
        ...(memRatio === undefined ? (['memory_growth'] as const) : []),
        ...(depth === undefined || capacity === undefined ? (['proof_queue'] as const) : []),
      ];
      return {
        speculativeTasks,
        rollbacks: Math.round(rollbackRate * speculativeTasks),
        rollbackRate: observedRate === undefined ? rate(0, speculativeTasks) : rollbackRate,
        memoryGrowthPerHour: memRatio === undefined ? 0 : Math.max(0, memRatio - 1),
        proofQueueDepth: depth ?? 0,
        proofQueueCapacity: capacity ?? 0,
        p1Alerts: [...new Set(p1)].sort(),
        unknown,
        source: opts.alertmanagerUrl ? 'prometheus+alertmanager' : 'prometheus',
        notes,
      };
    },
  };
}
