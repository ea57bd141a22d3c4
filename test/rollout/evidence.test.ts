/**
 * The decision matrix's evidence rule as pure functions (shared/rollout-model.ts): what one reading
 * says (`judgeReading`) and what a phase does when its green window is over (`windowVerdict`). A
 * reading below `min_sample` speculative tasks, or one whose source cannot see P1 alerts or memory
 * growth, is insufficient evidence: never green, and a window that ends on it holds instead of
 * proceeding.
 */
import { DEFAULT_THRESHOLDS, judgeReading, type RolloutReadings, windowVerdict } from '../../shared/rollout-model';

const reading = (r: Partial<RolloutReadings>): RolloutReadings => ({
  speculativeTasks: 40,
  rollbacks: 0,
  rollbackRate: r.rollbacks !== undefined && r.speculativeTasks ? r.rollbacks / r.speculativeTasks : 0,
  memoryGrowthPerHour: 0,
  proofQueueDepth: 1,
  proofQueueCapacity: 100,
  p1Alerts: [],
  ...r,
});

const HOUR = 3_600_000;

describe('judgeReading', () => {
  it.each([
    // what                                       reading                                                         clean  sample  evidence  missing
    ['a full green sample', { speculativeTasks: 40 }, true, true, true, []],
    ['exactly min_sample', { speculativeTasks: 20 }, true, true, true, []],
    ['no speculative task at all', { speculativeTasks: 0 }, true, false, false, [/0 of 20 speculative tasks/]],
    ['one below min_sample', { speculativeTasks: 19 }, true, false, false, [/19 of 20 speculative tasks/]],
    [
      '50% rollbacks on 10 tasks: rates not judged',
      { speculativeTasks: 10, rollbacks: 5 },
      true,
      false,
      false,
      [/10 of 20/],
    ],
    ['P1 alerts unseen', { unknown: ['p1_alerts'] }, true, true, false, [/P1 alerts/]],
    [
      'P1 alerts and memory unseen, no tasks',
      { speculativeTasks: 0, unknown: ['p1_alerts', 'memory_growth'] },
      true,
      false,
      false,
      [/0 of 20/, /P1 alerts/, /memory growth/],
    ],
    ['12.5% rollbacks on 40 tasks', { speculativeTasks: 40, rollbacks: 5 }, false, true, false, [/rollback rate/]],
    [
      'a full proof queue with no tasks',
      { speculativeTasks: 0, proofQueueDepth: 90 },
      false,
      false,
      false,
      [/proof queue/, /0 of 20/],
    ],
    ['a firing P1 alert', { p1Alerts: ['SpeculationWorkerDown'] }, false, true, false, [/P1 alert firing/]],
  ] as const)('%s', (_what, r, clean, sample, evidence, missing) => {
    const j = judgeReading(reading(r as Partial<RolloutReadings>), DEFAULT_THRESHOLDS);
    expect({ clean: j.clean, sample: j.sampleSufficient, evidence: j.evidence }).toEqual({ clean, sample, evidence });
    expect(j.missing).toHaveLength(missing.length);
    missing.forEach((m, i) => expect(j.missing[i]).toMatch(m));
  });

  it('judges rates only on a full sample: 50% of 10 tasks neither halts nor pauses, 12.5% of 40 halts', () => {
    expect(judgeReading(reading({ speculativeTasks: 10, rollbacks: 5 }), DEFAULT_THRESHOLDS)).toMatchObject({
      rateHalt: false,
      ratePause: false,
    });
    expect(judgeReading(reading({ speculativeTasks: 40, rollbacks: 5 }), DEFAULT_THRESHOLDS)).toMatchObject({
      rateHalt: true,
      ratePause: false,
    });
    expect(judgeReading(reading({ speculativeTasks: 40, rollbacks: 3 }), DEFAULT_THRESHOLDS)).toMatchObject({
      rateHalt: false,
      ratePause: true,
    });
  });

  it('reports what its source could not observe', () => {
    expect(judgeReading(reading({ unknown: ['memory_growth'] }), DEFAULT_THRESHOLDS).unknown).toEqual([
      'memory_growth',
    ]);
    expect(judgeReading(reading({}), DEFAULT_THRESHOLDS).unknown).toEqual([]);
  });
});

describe('windowVerdict: when the green window is over, proceed only on evidence', () => {
  const quiet = judgeReading(reading({ speculativeTasks: 0 }), DEFAULT_THRESHOLDS);
  const blind = judgeReading(reading({ unknown: ['p1_alerts', 'memory_growth'] }), DEFAULT_THRESHOLDS);
  const green = judgeReading(reading({}), DEFAULT_THRESHOLDS);
  it.each([
    ['window over, last reading green on a full sample', 24 * HOUR, green.evidence, 'proceed'],
    ['window over, last reading below min_sample', 24 * HOUR, quiet.evidence, 'hold'],
    ['window over long ago, still below min_sample', 30 * 24 * HOUR, quiet.evidence, 'hold'],
    ['window over, P1 alerts and memory unseen', 24 * HOUR, blind.evidence, 'hold'],
    ['window over, no reading yet', 24 * HOUR, undefined, 'hold'],
    ['window not over, evidence', 23 * HOUR, green.evidence, 'wait'],
    ['window not over, no evidence', HOUR, quiet.evidence, 'wait'],
  ] as const)('%s → %s', (_what, greenForMs, lastReadingIsEvidence, verdict) => {
    expect(windowVerdict({ durationMs: 24 * HOUR, greenForMs, lastReadingIsEvidence })).toBe(verdict);
  });

  it('an ongoing phase never proceeds on its own; a phase not green (paused, halted) waits', () => {
    expect(windowVerdict({ durationMs: null, greenForMs: 365 * 24 * HOUR, lastReadingIsEvidence: true })).toBe('wait');
    expect(windowVerdict({ durationMs: HOUR, greenForMs: null, lastReadingIsEvidence: true })).toBe('wait');
  });
});
