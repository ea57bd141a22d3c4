/**
 * The circuit breaker of `speculation-control`: speculation switches itself off when the system shows
 * it is failing (own-fault failures in a row, a rollback storm, memory or the proof queue near their
 * limits), outside any rollout, until a cooldown has passed or an operator re-enables it. Pure functions
 * of the breaker's state, the configuration and the time (`nowMs` is passed in): the control workflow
 * holds the state and applies them; tests call them directly.
 *
 * Imported by workflow code: no Node built-ins.
 */
import type { SpeculationConfig } from '../config/schema';

export const BREAKER_REASONS = ['own_faults', 'rollback_rate', 'memory', 'proof_queue'] as const;
export type BreakerReason = (typeof BREAKER_REASONS)[number];

export interface BreakerTrip {
  reason: BreakerReason;
  detail: string;
  /** When it tripped, and from when it may re-arm (epoch ms). */
  at: number;
  until: number;
}

/** Closed tasks in one slice of the rollback-rate window. */
export interface ClosedBucket {
  /** The slice's start (epoch ms). */
  at: number;
  closed: number;
  rolledBack: number;
}

export interface BreakerState {
  tripped?: BreakerTrip;
  /** When each of the own-fault failures since the last confirmation happened (at most max_own_faults kept). */
  ownFaultsInARow: number[];
  /** Closed tasks in slices of the rollback-rate window, oldest first. */
  buckets: ClosedBucket[];
  /** Since when the proof backlog has been over its fraction of queue_size (absent: it is not). */
  queueOverSince?: number;
}

export function initialBreaker(): BreakerState {
  return { ownFaultsInARow: [], buckets: [] };
}

type BreakerConfig = SpeculationConfig['speculation']['breaker'];

/** The slices the rollback-rate window is counted in: 24 of them, at least a second each. */
function bucketMs(b: BreakerConfig): number {
  return Math.max(1000, Math.floor(b.rollback_rate_window_ms / 24));
}

function trip(
  state: BreakerState,
  b: BreakerConfig,
  nowMs: number,
  reason: BreakerReason,
  detail: string,
): BreakerState {
  return { ...state, tripped: { reason, detail, at: nowMs, until: nowMs + b.cooldown_ms } };
}

/** Is it tripped now (a trip whose cooldown has passed is re-armed by `rearmed`)? */
export function isTripped(
  state: BreakerState | undefined,
  nowMs: number,
): state is BreakerState & { tripped: BreakerTrip } {
  return Boolean(state?.tripped && state.tripped.until > nowMs);
}

/**
 * Past its cooldown a trip re-arms: speculation is allowed again and the evidence starts afresh, so a
 * storm that goes on trips it again at once. Returns the state unchanged when nothing is due.
 */
export function rearmed(state: BreakerState, nowMs: number): BreakerState {
  if (!state.tripped || state.tripped.until > nowMs) return state;
  return initialBreaker();
}

/** An operator re-enables speculation (`agenc speculation enable`): armed again, the evidence starts afresh. */
export function enabledByOperator(): BreakerState {
  return initialBreaker();
}

/**
 * A task closed with `status`: `failed` is the agent's own fault (it counts in a row until a task
 * confirms), `rolled_back` and `failed` count toward the rollback rate, `confirmed` against it. Trips on
 * `max_own_faults` own-fault failures in a row within `own_fault_window_ms`, or a rollback rate over
 * `max_rollback_rate` among at least `min_samples` tasks closed within `rollback_rate_window_ms`.
 */
export function taskClosed(
  state: BreakerState,
  status: string,
  config: SpeculationConfig,
  nowMs: number,
): BreakerState {
  const b = config.speculation.breaker;
  if (!['confirmed', 'rolled_back', 'failed'].includes(status)) return state;
  const slice = bucketMs(b);
  const start = nowMs - (nowMs % slice);
  const kept = state.buckets.filter((x) => x.at > nowMs - b.rollback_rate_window_ms);
  const last = kept[kept.length - 1];
  const rolledBack = status === 'confirmed' ? 0 : 1;
  const buckets =
    last && last.at === start
      ? [...kept.slice(0, -1), { at: start, closed: last.closed + 1, rolledBack: last.rolledBack + rolledBack }]
      : [...kept, { at: start, closed: 1, rolledBack }];
  const ownFaultsInARow =
    status === 'failed'
      ? [...state.ownFaultsInARow, nowMs].slice(-b.max_own_faults)
      : status === 'confirmed'
        ? []
        : state.ownFaultsInARow;
  const next: BreakerState = { ...state, buckets, ownFaultsInARow };
  if (!b.enabled || isTripped(next, nowMs)) return next;

  const inWindow = ownFaultsInARow.filter((t) => t > nowMs - b.own_fault_window_ms);
  if (inWindow.length >= b.max_own_faults) {
    return trip(
      next,
      b,
      nowMs,
      'own_faults',
      `${inWindow.length} tasks failed by their agents' own fault in a row within ${b.own_fault_window_ms / 1000} s ` +
        `(speculation.breaker.max_own_faults ${b.max_own_faults})`,
    );
  }
  const closed = buckets.reduce((n, x) => n + x.closed, 0);
  const rolled = buckets.reduce((n, x) => n + x.rolledBack, 0);
  if (closed >= b.min_samples && rolled / closed > b.max_rollback_rate) {
    return trip(
      next,
      b,
      nowMs,
      'rollback_rate',
      `${rolled} of ${closed} tasks closed within ${b.rollback_rate_window_ms / 1000} s rolled back or failed ` +
        `(${Math.round((100 * rolled) / closed)}% > speculation.breaker.max_rollback_rate ${b.max_rollback_rate * 100}%)`,
    );
  }
  return next;
}

/**
 * What a worker reported with a speculation request: its resident memory, and the proof backlog it read.
 * Trips on memory over `max_memory_fraction` of `limits.max_memory_mb`, or a backlog over
 * `max_proof_queue_fraction` of `proof.queue_size` for `proof_queue_duration_ms`.
 */
export function workerSample(
  state: BreakerState,
  sample: { workerMemoryMb: number; proofBacklog?: number },
  config: SpeculationConfig,
  nowMs: number,
): BreakerState {
  const s = config.speculation;
  const b = s.breaker;
  let next = state;
  if (sample.proofBacklog !== undefined) {
    const over = sample.proofBacklog > b.max_proof_queue_fraction * s.proof.queue_size;
    if (over && state.queueOverSince === undefined) next = { ...next, queueOverSince: nowMs };
    if (!over && state.queueOverSince !== undefined) next = { ...next, queueOverSince: undefined };
  }
  if (!b.enabled || isTripped(next, nowMs)) return next;
  const memoryLimit = b.max_memory_fraction * s.limits.max_memory_mb;
  if (sample.workerMemoryMb > memoryLimit) {
    return trip(
      next,
      b,
      nowMs,
      'memory',
      `a worker uses ${sample.workerMemoryMb} MB, over ${b.max_memory_fraction * 100}% of speculation.limits.max_memory_mb ${s.limits.max_memory_mb}`,
    );
  }
  // Judged only on a sample that read the backlog: one that could not says nothing about the queue.
  if (
    sample.proofBacklog !== undefined &&
    next.queueOverSince !== undefined &&
    nowMs - next.queueOverSince >= b.proof_queue_duration_ms
  ) {
    return trip(
      next,
      b,
      nowMs,
      'proof_queue',
      `${sample.proofBacklog} proofs have waited in agenc-proofs, over ${b.max_proof_queue_fraction * 100}% of speculation.proof.queue_size ` +
        `${s.proof.queue_size}, for ${Math.round((nowMs - next.queueOverSince) / 1000)} s (proof_queue_duration_ms ${b.proof_queue_duration_ms})`,
    );
  }
  return next;
}
