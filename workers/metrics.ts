/**
 * Prometheus metrics served on `:9090/metrics` (names from the runbook). Counters move in the worker
 * that ran the event (sum them across workers); gauges that describe the whole system
 * (active speculative tasks, rollout) are read from the control workflow at scrape time, so every
 * worker reports the same value: take `max()` across workers, not `sum()`.
 *
 * When a scrape cannot read the control workflow, those gauges have no sample in it (Prometheus's
 * convention for "unknown"): neither the last value, which would hide the outage (an alert on a stuck
 * value fires, a drain script waits on a number that is no longer true), nor 0, which the runbook's
 * scripts read as "no speculative tasks left". `speculation_control_up` says which it was (1 read,
 * 0 not), so an alert can fire on the outage itself. The proof queue depth, read from Temporal, is
 * left out the same way when it cannot be read.
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
  rolloutInsufficientEvidence: Gauge<'rollout'>;
  /** Sets `speculation_rollout_insufficient_evidence{rollout}` for `ttlMs` (the rollout sink's target). */
  markRolloutEvidence(rollout: string, insufficient: boolean, ttlMs: number): void;
  rolloutPercentage: Gauge;
  enabled: Gauge;
  adaptiveDepth: Gauge;
  autoDisabled: Gauge<'reason'>;
  tasksFailedTotal: Counter<'reason'>;
  cascadeSize: Histogram;
  rollbackDurationSeconds: Histogram;
  activeTasksByDepth: Gauge<'depth'>;
  memoryLimitBytes: Gauge;
  maxDepth: Gauge;
  deepestActiveDepth: Gauge;
  proofTimeoutSeconds: Gauge;
  stakeAvailable: Gauge<'agent'>;
  smallestBond: Gauge;
  confirmationSeconds: Histogram;
  controlUp: Gauge;
}

export interface MetricsSources {
  /** The control workflow's status; rejects (or answers undefined) when it cannot be read: the gauges read from it then have no sample. */
  controlStatus?: () => Promise<ControlStatus | undefined>;
  /** Proofs waiting in `agenc-proofs` for a proof worker (system-wide); rejects when it cannot be read: the gauge then has no sample. */
  proofQueueDepth?: () => Promise<number>;
  /** Lamports each staked agent has available for new bonds (only the process that holds the chain has it); rejects when the chain cannot be read. */
  stakeAvailable?: () => Promise<Array<{ agent: string; available: number }>>;
}

export function createMetrics(sources: MetricsSources = {}): SpeculationMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // One query to the control workflow per scrape: the gauges of one scrape collect concurrently and
  // share the query in flight. Nothing is kept past it, so a scrape right after an admin change
  // already shows the change, and a scrape that cannot read the status has none.
  let inFlight: Promise<ControlStatus | undefined> | undefined;
  // Rollout evidence as the phases last reported it, by rollout, with when it lapses.
  const rolloutEvidence = new Map<string, { value: number; until: number }>();
  const readStatus = () =>
    (inFlight ??= (sources.controlStatus?.().catch(() => undefined) ?? Promise.resolve(undefined)).finally(() => {
      inFlight = undefined;
    }));
  /** A collect() for a gauge read from the control status: its value, or no sample when the status is unknown. */
  const fromStatus = (value: (s: ControlStatus) => number) =>
    async function (this: Gauge) {
      const s = await readStatus();
      if (s) this.set(value(s));
      else this.remove();
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
      collect: fromStatus((s) => s.active_tasks),
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
        else this.remove();
      },
    }),
    proofQueueCapacity: new Gauge({
      name: 'speculation_proof_queue_capacity',
      help: 'Configured [speculation.proof] queue_size: the proof backlog counted as a full queue',
      registers,
      collect: fromStatus((s) => s.config.speculation.proof.queue_size),
    }),
    stakeAtRisk: new Gauge({
      name: 'speculation_stake_at_risk_lamports',
      help: "Lamports bonded by active speculative tasks (system-wide, by the bond rule over the control workflow's active set)",
      registers,
      collect: fromStatus((s) => s.active.reduce((sum, a) => sum + bondAmount(a.depth, s.config.speculation.stake), 0)),
    }),
    hitsTotal: new Counter({ name: 'speculation_hits_total', help: 'Speculative tasks that confirmed', registers }),
    missesTotal: new Counter({
      name: 'speculation_misses_total',
      help: 'Speculative tasks that rolled back',
      registers,
    }),
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
    rolloutInsufficientEvidence: new Gauge({
      name: 'speculation_rollout_insufficient_evidence',
      help: "1 while a rollout's current phase lacks evidence to proceed (fewer than min_sample speculative tasks, a signal its metric source cannot observe, no reading): it holds rather than proceeds",
      labelNames: ['rollout'],
      registers,
      collect() {
        // Only what a phase renewed lately: a worker that stopped running the phase drops the series.
        this.reset();
        const now = Date.now();
        for (const [rollout, e] of rolloutEvidence) {
          if (e.until < now) rolloutEvidence.delete(rollout);
          else this.set({ rollout }, e.value);
        }
      },
    }),
    markRolloutEvidence(rollout, insufficient, ttlMs) {
      rolloutEvidence.set(rollout, { value: insufficient ? 1 : 0, until: Date.now() + ttlMs });
    },
    rolloutPercentage: new Gauge({
      name: 'speculation_rollout_percentage',
      help: 'speculation.features.rollout_percentage in force',
      registers,
      collect: fromStatus((s) => s.rollout_percentage),
    }),
    enabled: new Gauge({
      name: 'speculation_enabled',
      help: '1 when speculation.enabled is true',
      registers,
      collect: fromStatus((s) => (s.enabled ? 1 : 0)),
    }),
    adaptiveDepth: new Gauge({
      name: 'speculation_adaptive_depth',
      help: 'The speculation depth adaptive speculation allows now (max_depth when it is off or has not lowered it); deeper tasks run non-speculatively as adaptive_depth',
      registers,
      collect: fromStatus((s) =>
        s.adaptive?.enabled
          ? Math.min(s.adaptive.depth, s.config.speculation.max_depth)
          : s.config.speculation.max_depth,
      ),
    }),
    autoDisabled: new Gauge({
      name: 'speculation_auto_disabled',
      help: 'The circuit breaker: 1 (labelled with why) while speculation has switched itself off, 0 (reason "none") while armed',
      labelNames: ['reason'],
      registers,
      async collect() {
        const s = await readStatus();
        this.reset();
        if (!s) return;
        if (s.auto_disabled) this.set({ reason: s.auto_disabled.reason }, 1);
        else this.set({ reason: 'none' }, 0);
      },
    }),
    tasksFailedTotal: new Counter({
      name: 'speculation_tasks_failed_total',
      help: "Tasks that ended failed, by reason: their agent's own fault (a failing root counts here; speculation_rollback_total counts the rollbacks)",
      labelNames: ['reason'],
      registers,
    }),
    cascadeSize: new Histogram({
      name: 'speculation_rollback_cascade_size',
      help: "Descendants one failure's cascade rolled back at once",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers,
    }),
    rollbackDurationSeconds: new Histogram({
      name: 'speculation_rollback_duration_seconds',
      help: "From a cascade origin's failure to its cascade's descendants settled (bonds released)",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    activeTasksByDepth: new Gauge({
      name: 'speculation_active_tasks_by_depth',
      help: 'Speculative tasks not yet final, by depth (unconfirmed ancestors when they speculated; system-wide, from the control workflow)',
      labelNames: ['depth'],
      registers,
      async collect() {
        const s = await readStatus();
        this.reset();
        if (!s) return;
        for (let depth = 1; depth <= s.config.speculation.max_depth; depth++) this.set({ depth: String(depth) }, 0);
        for (const a of s.active) this.inc({ depth: String(a.depth) });
      },
    }),
    memoryLimitBytes: new Gauge({
      name: 'speculation_memory_limit_bytes',
      help: 'speculation.limits.max_memory_mb in bytes: what speculation_memory_usage_bytes is held against (memory_limit, the circuit breaker)',
      registers,
      collect: fromStatus((s) => s.config.speculation.limits.max_memory_mb * 2 ** 20),
    }),
    maxDepth: new Gauge({
      name: 'speculation_max_depth',
      help: 'speculation.max_depth: the most unconfirmed ancestors a task may speculate on (what speculation_active_depth_max is held against)',
      registers,
      collect: fromStatus((s) => s.config.speculation.max_depth),
    }),
    deepestActiveDepth: new Gauge({
      name: 'speculation_active_depth_max',
      help: 'Depth of the deepest speculative task not yet final (0 when none is active; system-wide, from the control workflow)',
      registers,
      collect: fromStatus((s) => s.active.reduce((deepest, a) => Math.max(deepest, a.depth), 0)),
    }),
    proofTimeoutSeconds: new Gauge({
      name: 'speculation_proof_timeout_seconds',
      help: 'speculation.proof.timeout_ms in seconds: a proof running longer is abandoned and retried (what proof generation time is held against)',
      registers,
      collect: fromStatus((s) => s.config.speculation.proof.timeout_ms / 1000),
    }),
    stakeAvailable: new Gauge({
      name: 'speculation_stake_available_lamports',
      help: "Lamports in each staked agent's stake account that can back a new bond (what is locked in bonds is not counted; only the worker that holds the chain reports it)",
      labelNames: ['agent'],
      registers,
      async collect() {
        const agents = await sources.stakeAvailable?.().catch(() => undefined);
        this.reset();
        for (const a of agents ?? []) this.set({ agent: a.agent }, a.available);
      },
    }),
    smallestBond: new Gauge({
      name: 'speculation_smallest_bond_lamports',
      help: 'The bond of a depth-1 speculative task (min_stake + stake_per_depth): an agent with less available stake cannot speculate',
      registers,
      collect: fromStatus((s) => bondAmount(1, s.config.speculation.stake)),
    }),
    confirmationSeconds: new Histogram({
      name: 'speculation_confirmation_seconds',
      help: "From a commitment's landing on-chain to its finality (records marked confirmed), per task",
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers,
    }),
    controlUp: new Gauge({
      name: 'speculation_control_up',
      help: "1 when this scrape read the speculation-control workflow's status, 0 when it could not (the gauges read from it then have no sample)",
      registers,
      async collect() {
        this.set((await readStatus()) ? 1 : 0);
      },
    }),
  };
  // Every labelled series exists from the start, so the runbook's greps and rate() see zeros, not gaps.
  m.rollbackTotal.inc({ reason: 'parent_failed' }, 0);
  m.tasksFailedTotal.inc({ reason: 'proof_failed' }, 0);
  m.tasksFailedTotal.inc({ reason: 'execution_failed' }, 0);
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
      taskStarted: {
        fn: (_info, type, speculationStatus) => m.tasksTotal.inc({ type, speculation_status: speculationStatus }),
      },
      speculated: { fn: (_info, depth) => m.depthHistogram.observe(depth) },
      confirmed: {
        fn: (info, speculationStatus) => {
          m.confirmedTotal.inc();
          if (speculationStatus === 'speculative') m.hitsTotal.inc();
          // A task is submitted by starting its workflow, so the chain's start time is its submission.
          m.taskLatencySeconds.observe(
            { speculation_status: speculationStatus },
            (Date.now() - info.startTime.getTime()) / 1000,
          );
        },
      },
      rolledBack: {
        fn: (_info, reason, speculative) => {
          m.rollbackTotal.inc({ reason });
          if (speculative) m.missesTotal.inc();
        },
      },
      failed: { fn: (_info, reason) => m.tasksFailedTotal.inc({ reason }) },
      cascaded: {
        fn: (_info, members, seconds) => {
          m.cascadeSize.observe(members);
          m.rollbackDurationSeconds.observe(seconds);
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
    rollout: {
      evidence: {
        fn: (_info, rollout, _phase, insufficient, ttlMs) => m.markRolloutEvidence(rollout, insufficient, ttlMs),
      },
    },
  };
}
