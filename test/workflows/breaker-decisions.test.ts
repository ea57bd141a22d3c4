/** The circuit breaker's decisions as pure functions (workflows/breaker-decisions.ts), without a workflow. */
import { parseConfigOrThrow, type SpeculationConfig } from '../../config/schema';
import {
  type BreakerState,
  enabledByOperator,
  initialBreaker,
  isTripped,
  rearmed,
  taskClosed,
  workerSample,
} from '../../workflows/breaker-decisions';

const config = (breaker: Record<string, unknown> = {}, speculation: Record<string, unknown> = {}): SpeculationConfig =>
  parseConfigOrThrow({
    speculation: { enabled: true, features: { rollout_percentage: 100 }, breaker, ...speculation },
  });

/** Closes tasks with these statuses, one a second from t0. */
function closeAll(statuses: string[], cfg: SpeculationConfig, t0 = 1_000_000, state = initialBreaker()): BreakerState {
  return statuses.reduce((s, status, i) => taskClosed(s, status, cfg, t0 + i * 1000), state);
}
const times = (n: number, status: string) => Array.from({ length: n }, () => status);

describe('own-fault failures in a row', () => {
  const cfg = config({ max_own_faults: 3, own_fault_window_ms: 60_000, max_rollback_rate: 1 });
  test.each<[string, string[], boolean]>([
    ['three in a row trip it', times(3, 'failed'), true],
    ['two do not', times(2, 'failed'), false],
    ['a confirmation in between starts the count again', ['failed', 'failed', 'confirmed', 'failed'], false],
    ['a rollback in between does not (it is not a success)', ['failed', 'rolled_back', 'failed', 'failed'], true],
    ['tasks that never started do not count', ['failed', 'not_started', 'failed'], false],
  ])('%s', (_what, statuses, tripped) => {
    const s = closeAll(statuses, cfg);
    expect(isTripped(s, 1_000_000 + statuses.length * 1000)).toBe(tripped);
    if (tripped) expect(s.tripped!.reason).toBe('own_faults');
  });

  test('three spread over more than the window do not', () => {
    const s = [0, 40_000, 80_000].reduce((st, dt) => taskClosed(st, 'failed', cfg, 1_000_000 + dt), initialBreaker());
    expect(s.tripped).toBeUndefined();
  });
});

describe('rollback rate', () => {
  const cfg = config({
    max_rollback_rate: 0.5,
    min_samples: 10,
    rollback_rate_window_ms: 120_000,
    max_own_faults: 1000,
  });
  test.each<[string, string[], boolean]>([
    ['6 of 10 rolled back trips it', [...times(4, 'confirmed'), ...times(6, 'rolled_back')], true],
    ['exactly half does not', [...times(5, 'confirmed'), ...times(5, 'rolled_back')], false],
    ['fewer than min_samples never does', times(9, 'rolled_back'), false],
    ['own-fault failures count as rollbacks', [...times(4, 'confirmed'), ...times(6, 'failed')], true],
  ])('%s', (_what, statuses, tripped) => {
    const s = closeAll(statuses, cfg);
    expect(isTripped(s, 1_000_000 + statuses.length * 1000)).toBe(tripped);
    if (tripped) expect(s.tripped!.reason).toBe('rollback_rate');
  });

  test('rollbacks older than the window are forgotten', () => {
    const old = closeAll(times(9, 'rolled_back'), cfg);
    const later = closeAll([...times(5, 'confirmed'), ...times(4, 'rolled_back')], cfg, 1_000_000 + 300_000, old);
    expect(later.tripped).toBeUndefined();
  });

  test('the words name the counts and the limit', () => {
    const s = closeAll([...times(4, 'confirmed'), ...times(6, 'rolled_back')], cfg);
    expect(s.tripped!.detail).toBe(
      '6 of 10 tasks closed within 120 s rolled back or failed (60% > speculation.breaker.max_rollback_rate 50%)',
    );
  });
});

describe('memory and the proof queue', () => {
  const cfg = config(
    { max_memory_fraction: 0.95, max_proof_queue_fraction: 0.98, proof_queue_duration_ms: 300_000 },
    { limits: { max_memory_mb: 1000 }, proof: { queue_size: 100 } },
  );
  test('memory over 95% of max_memory_mb trips it at once; at 95% it does not', () => {
    expect(workerSample(initialBreaker(), { workerMemoryMb: 951 }, cfg, 0).tripped?.reason).toBe('memory');
    expect(workerSample(initialBreaker(), { workerMemoryMb: 950 }, cfg, 0).tripped).toBeUndefined();
  });

  test('the proof queue over 98% trips it only after proof_queue_duration_ms, and a dip starts the wait again', () => {
    const at = (s: BreakerState, backlog: number, t: number) =>
      workerSample(s, { workerMemoryMb: 1, proofBacklog: backlog }, cfg, t);
    let s = at(initialBreaker(), 99, 0);
    s = at(s, 99, 299_000);
    expect(s.tripped).toBeUndefined();
    expect(at(s, 99, 300_000).tripped?.reason).toBe('proof_queue');
    s = at(at(s, 50, 299_500), 99, 300_000); // dipped under, over again
    expect(s.tripped).toBeUndefined();
    expect(s.queueOverSince).toBe(300_000);
    // A sample without a backlog (the worker could not read it) changes nothing.
    expect(workerSample(s, { workerMemoryMb: 1 }, cfg, 900_000)).toBe(s);
  });
});

describe('cooldown, re-arming, the operator', () => {
  const cfg = config({ max_own_faults: 2, cooldown_ms: 60_000 });
  const tripped = closeAll(times(2, 'failed'), cfg, 0);

  test('tripped until the cooldown has passed, then re-armed with fresh evidence', () => {
    expect(tripped.tripped).toMatchObject({ reason: 'own_faults', at: 1000, until: 61_000 });
    expect(isTripped(tripped, 60_999)).toBe(true);
    expect(rearmed(tripped, 60_999)).toBe(tripped);
    expect(isTripped(tripped, 61_000)).toBe(false);
    expect(rearmed(tripped, 61_000)).toEqual(initialBreaker());
  });

  test('while tripped, more failures do not move the cooldown', () => {
    expect(taskClosed(tripped, 'failed', cfg, 30_000).tripped!.until).toBe(61_000);
  });

  test('an operator re-enables it at once, with fresh evidence', () => {
    expect(enabledByOperator()).toEqual(initialBreaker());
  });

  test('switched off, it never trips', () => {
    const off = config({ enabled: false, max_own_faults: 1 }, { limits: { max_memory_mb: 1000 } });
    expect(closeAll(times(5, 'failed'), off).tripped).toBeUndefined();
    expect(workerSample(initialBreaker(), { workerMemoryMb: 999 }, off, 0).tripped).toBeUndefined();
  });
});
