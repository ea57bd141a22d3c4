/**
 * Prometheus metrics served on `:9090/metrics` (names from the runbook). Counters move in the worker
 * that ran the event (sum them across workers); gauges that describe the whole system
 * (active speculative tasks, rollout) are read from the control workflow at scrape time, so every
 * worker reports the same value: take `max()` across workers, not `sum()`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InjectedSinks } from '@temporalio/worker';
import type { MetricsSinks } from '../shared/metrics-sink';
import type { ControlStatus } from '../shared/messages';
import { bondAmount } from '../activities/chain/bond-amount';

export interface SpeculationMetrics {
  registry: Registry;
  tasksTotal: Counter<'type' | 'speculation_status'>;
  activeTasks: Gauge;
  rollbackTotal: Counter<'reason'>;
  proofGenerationSeconds: Histogram;
  memoryUsageBytes: Gauge;
  depthHistogram: Histogram;
  taskLatencySeconds: Histogram<'speculation_status'>;
  proofQueueDepth: Gauge;
  proofQueueCapacity: Gauge;
  stakeAtRisk: Gauge;
  hitsTotal: Counter;
  missesTotal: Counter;
  confirmedTotal: Counter;
  bondsSlashedTotal: Counter;
  slashedLamportsTotal: Counter;
  rolloutPhase: Gauge<'rollout'>;
  rolloutPercentage: Gauge;
  enabled: Gauge;
}

export interface MetricsSources {
  /** The control workflow's status, or undefined when it cannot be read (the gauges keep their last value). */
  controlStatus?: () => Promise<ControlStatus | undefined>;
  /** Proofs waiting in `agenc-proofs` for a proof worker (system-wide); rejects when it cannot be read (the gauge keeps its last value). */
  proofQueueDepth?: () => Promise<number>;
}

export function createMetrics(sources: MetricsSources = {}): SpeculationMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let lastStatus: ControlStatus | undefined;
  // One query to the control workflow per scrape: the gauges of one scrape collect concurrently and
  // share the query in flight. Nothing is cached past it, so a scrape right after an admin change
  // already shows the change.
  let inFlight: Promise<ControlStatus | undefined> | undefined;
  const refreshStatus = async () => {
    inFlight ??= (sources.controlStatus?.().catch(() => undefined) ?? Promise.resolve(undefined)).finally(() => {
      inFlight = undefined;
    });
    lastStatus = (await inFlight) ?? lastStatus;
    return lastStatus;
  };

  const m: SpeculationMetrics = {
    registry,
    tasksTotal: new Counter({
      name: 'speculation_tasks_total',
      help: 'Tasks started, by type and how they ran (speculative, non_speculative, or the refusal reason)',
      labelNames: ['type', 'speculation_status'],
      registers,
    }),
    activeTasks: new Gauge({
      name: 'speculation_active_tasks',
      help: 'Speculative tasks not yet final (system-wide, from the control workflow)',
      registers,
      async collect() {
        const s = await refreshStatus();
        if (s) this.set(s.active_tasks);
      },
    }),
    rollbackTotal: new Counter({
      name: 'speculation_rollback_total',
      help: 'Tasks rolled back, by reason',
      labelNames: ['reason'],
      registers,
    }),
    proofGenerationSeconds: new Histogram({
      name: 'speculation_proof_generation_seconds',
      help: 'Groth16 proof generation time',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    }),
    memoryUsageBytes: new Gauge({
      name: 'speculation_memory_usage_bytes',
      help: 'Resident memory of this worker process',
      registers,
      collect() {
        this.set(process.memoryUsage().rss);
      },
    }),
    depthHistogram: new Histogram({
      name: 'speculation_depth_histogram',
      help: 'Speculation depth (unconfirmed ancestors) when a task speculated',
      buckets: [1, 2, 3, 4, 5, 6, 8, 10, 15, 20],
      registers,
    }),
    taskLatencySeconds: new Histogram({
      name: 'speculation_task_latency_seconds',
      help: "Per task, submission (workflow start) to confirmation, by how it ran; the runbook's speculation_p99_latency_ms is recorded from it",
      labelNames: ['speculation_status'],
      // 0.5 s is the runbook's p99 SLO; a confirmation includes a proof and the chain's finality.
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
      registers,
    }),
    proofQueueDepth: new Gauge({
      name: 'speculation_proof_queue_depth',
      help: 'Proofs waiting in the agenc-proofs task queue for a proof worker (system-wide, from Temporal)',
      registers,
      async collect() {
        const depth = await sources.proofQueueDepth?.().catch(() => undefined);
        if (depth !== undefined) this.set(depth);
      },
    }),
    proofQueueCapacity: new Gauge({
      name: 'speculation_proof_queue_capacity',
      help: 'Configured [speculation.proof] queue_size: the proof backlog counted as a full queue',
      registers,
      async collect() {
        const s = await refreshStatus();
        if (s) this.set(s.config.speculation.proof.queue_size);
      },
    }),
    stakeAtRisk: new Gauge({
      name: 'speculation_stake_at_risk_lamports',
      help: "Lamports bonded by active speculative tasks (system-wide, by the bond rule over the control workflow's active set)",
      registers,
      async collect() {
        const s = await refreshStatus();
        if (s) this.set(s.active.reduce((sum, a) => sum + bondAmount(a.depth, s.config.speculation.stake), 0));
      },
    }),
    hitsTotal: new Counter({ name: 'speculation_hits_total', help: 'Speculative tasks that confirmed', registers }),
    missesTotal: new Counter({ name: 'speculation_misses_total', help: 'Speculative tasks that rolled back', registers }),
    confirmedTotal: new Counter({ name: 'speculation_tasks_confirmed_total', help: 'Tasks confirmed', registers }),
    bondsSlashedTotal: new Counter({ name: 'speculation_bonds_slashed_total', help: 'Bonds slashed', registers }),
    slashedLamportsTotal: new Counter({
      name: 'speculation_slashed_lamports_total',
      help: 'Lamports slashed to the treasury',
      registers,
    }),
    rolloutPhase: new Gauge({
      name: 'speculation_rollout_phase',
      help: 'Current phase number of a rollout (0 before the first)',
      labelNames: ['rollout'],
      registers,
    }),
    rolloutPercentage: new Gauge({
      name: 'speculation_rollout_percentage',
      help: 'speculation.features.rollout_percentage in force',
      registers,
      async collect() {
        const s = await refreshStatus();
        if (s) this.set(s.rollout_percentage);
      },
    }),
    enabled: new Gauge({
      name: 'speculation_enabled',
      help: '1 when speculation.enabled is true',
      registers,
      async collect() {
        const s = await refreshStatus();
        if (s) this.set(s.enabled ? 1 : 0);
      },
    }),
  };
  // Every labelled series exists from the start, so the runbook's greps and rate() see zeros, not gaps.
  m.rollbackTotal.inc({ reason: 'parent_failed' }, 0);
  for (const status of ['speculative', 'non_speculative']) {
    m.tasksTotal.inc({ type: 'compute', speculation_status: status }, 0);
    m.taskLatencySeconds.zero({ speculation_status: status });
  }
  return m;
}

/** The workflow → worker metrics sink. */
export function metricsSinks(m: SpeculationMetrics): InjectedSinks<MetricsSinks> {
  return {
    metrics: {
      taskStarted: { fn: (_info, type, speculationStatus) => m.tasksTotal.inc({ type, speculation_status: speculationStatus }) },
      speculated: { fn: (_info, depth) => m.depthHistogram.observe(depth) },
      confirmed: {
        fn: (info, speculationStatus) => {
          m.confirmedTotal.inc();
          if (speculationStatus === 'speculative') m.hitsTotal.inc();
          // A task is submitted by starting its workflow, so the chain's start time is its submission.
          m.taskLatencySeconds.observe({ speculation_status: speculationStatus }, (Date.now() - info.startTime.getTime()) / 1000);
        },
      },
      rolledBack: {
        fn: (_info, reason, speculative) => {
          m.rollbackTotal.inc({ reason });
          if (speculative) m.missesTotal.inc();
        },
      },
      bondSettled: {
        fn: (_info, _locked, slashed) => {
          if (slashed > 0) {
            m.bondsSlashedTotal.inc();
            m.slashedLamportsTotal.inc(slashed);
          }
        },
      },
    },
  };
}
