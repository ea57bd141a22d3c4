/**
 * The rollout decision matrix as pure functions (workflows/rollout-decisions.ts), without a workflow:
 * every row of the matrix and its edge values (exactly 5% and 10%, one below the minimum sample, a
 * proof queue at exactly 80%, memory growth at exactly 20%, never below 1 branch), the end of the green
 * window (proceed, hold, wait), the operator's requests in each state, and what the phase reports to
 * the rollout. The workflow that carries these out is driven on the time-skipping server by
 * test/rollout/rollout-phase.test.ts.
 */
import {
  type DecisionAction,
  judgeReading,
  type PhaseCarry,
  type PhaseEvidence,
  type PhaseState,
  parsePlan,
  type RolloutReadings,
} from '../../shared/rollout-model';
import {
  branchReductionDue,
  decideBranchReduction,
  decideNoData,
  decideReading,
  decideWindow,
  endState,
  newPhaseCarry,
  type PhaseChange,
  type PhaseSettings,
  phaseSettings,
  type PhaseView,
  setPercentage,
} from '../../workflows/rollout-decisions';
import {
  operatorAbort,
  operatorApprove,
  operatorPause,
  operatorResume,
  reappliesPercentage,
} from '../../workflows/rollout-requests';
import { nextWakeAt, rolloutReport, waitingFor } from '../../workflows/rollout-reports';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** The evaluation's time in every table: the phase started 5 hours before. */
const NOW = Date.parse('2026-01-01T12:00:00.000Z');

const parsed = parsePlan({
  evaluation_interval: '10 minutes',
  phases: [
    { name: 'Canary', percentage: 10, duration: '1h' },
    { name: 'More', percentage: 20, duration: '1h' },
    { name: 'Full', percentage: 100, duration: 'ongoing' },
  ],
});
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const plan = parsed.plan;

/** Phase 2 of 3 (20%, after 10%), with the evidence rule, unless overridden. */
const settings = (over: Partial<PhaseSettings> = {}): PhaseSettings => ({
  ...phaseSettings(plan, plan.phases[1]!, { phase: 2, previousPercentage: 10, evidenceRule: true }),
  ...over,
});

const SUFFICIENT: PhaseEvidence = {
  sufficient: true,
  insufficient: false,
  missing: [],
  unknown: [],
  at: new Date(NOW).toISOString(),
};
const QUIET: PhaseEvidence = {
  ...SUFFICIENT,
  sufficient: false,
  insufficient: true,
  missing: ['0 of 20 speculative tasks in the metric window (min_sample)'],
};

/** A monitoring phase, green since 30 minutes ago, next evaluation in 10 minutes, unless overridden. */
const phase = (over: Partial<PhaseCarry> = {}): PhaseCarry => ({
  ...newPhaseCarry(NOW - 5 * HOUR),
  percentageSet: true,
  greenSince: NOW - 30 * MIN,
  nextEvalAt: NOW + 10 * MIN,
  ...over,
});

/** A green reading on a full sample (40 speculative tasks, queue 1%), unless overridden; the rate follows the counts. */
const reading = (r: Partial<RolloutReadings> = {}): RolloutReadings => {
  const speculativeTasks = r.speculativeTasks ?? 40;
  const rollbacks = r.rollbacks ?? 0;
  return {
    speculativeTasks,
    rollbacks,
    rollbackRate: speculativeTasks ? rollbacks / speculativeTasks : 0,
    memoryGrowthPerHour: 0,
    proofQueueDepth: 1,
    proofQueueCapacity: 100,
    p1Alerts: [],
    source: 'injected',
    ...r,
  };
};

const HALTED: PhaseChange = { state: 'halted', greenSince: null };
const ROLLED_BACK: PhaseChange = { percentageSet: false, rolledBack: true, ...HALTED };
const PAUSED: PhaseChange = { clearSince: null, state: 'paused', pauseKind: 'metrics', greenSince: null };
const RESUMED: PhaseChange = { state: 'monitoring', pauseKind: null, clearSince: null, greenSince: NOW };

const paused = (pauseKind: 'metrics' | 'operator', clearSince: number | null = null): Partial<PhaseCarry> => ({
  state: 'paused',
  pauseKind,
  clearSince,
  greenSince: null,
});

/** Each row: a reading, the phase it finds (monitoring, green since 30 minutes, unless set), the decision and the state after it. */
const MATRIX: Array<
  [
    what: string,
    reading: Partial<RolloutReadings>,
    phase: Partial<PhaseCarry>,
    action: DecisionAction | null,
    next: PhaseChange,
    reason: RegExp,
  ]
> = [
  [
    'green on a full sample',
    {},
    {},
    'continue',
    {},
    /^green: rollback rate 0\.0% \(0\/40 speculative tasks\), proof queue 1\.0%, memory 0\.0%\/h, no P1 alert$/,
  ],
  [
    'a P1 alert: back to the previous percentage, halted',
    { p1Alerts: ['SpeculationWorkerDown'] },
    {},
    'rollback_phase',
    ROLLED_BACK,
    /^P1 alert firing \(SpeculationWorkerDown\): rollout_percentage back to 10%; halted$/,
  ],
  [
    'a P1 alert comes before a rate to halt on',
    { p1Alerts: ['A', 'B'], rollbacks: 20 },
    {},
    'rollback_phase',
    ROLLED_BACK,
    /\(A, B\)/,
  ],
  [
    'a P1 alert on no sample at all',
    { p1Alerts: ['A'], speculativeTasks: 0 },
    {},
    'rollback_phase',
    ROLLED_BACK,
    /P1 alert firing/,
  ],
  [
    'a P1 alert while paused',
    { p1Alerts: ['A'] },
    paused('operator'),
    'rollback_phase',
    ROLLED_BACK,
    /P1 alert firing/,
  ],
  [
    '12.5% > 10%: halt',
    { rollbacks: 5 },
    {},
    'halt',
    HALTED,
    /^rollback rate 12\.5% \(5\/40 speculative tasks\) > 10\.0%: halted, investigate$/,
  ],
  ['10.5% (21/200) > 10%: halt', { speculativeTasks: 200, rollbacks: 21 }, {}, 'halt', HALTED, /10\.5%/],
  ['exactly 10% pauses, it does not halt', { rollbacks: 4 }, {}, 'pause', PAUSED, /10\.0% .* in \[5\.0%, 10\.0%\]/],
  ['7.5% pauses', { rollbacks: 3 }, {}, 'pause', PAUSED, /^rollback rate 7\.5% .*: paused, monitoring continues$/],
  ['exactly 5% pauses', { rollbacks: 2 }, {}, 'pause', PAUSED, /5\.0% .* in \[5\.0%, 10\.0%\]/],
  [
    '4.9% (49/1000) is green',
    { speculativeTasks: 1000, rollbacks: 49 },
    {},
    'continue',
    {},
    /^green: rollback rate 4\.9%/,
  ],
  [
    'exactly min_sample: 3 of 20 (15%) halts',
    { speculativeTasks: 20, rollbacks: 3 },
    {},
    'halt',
    HALTED,
    /15\.0% \(3\/20 speculative tasks\) > 10\.0%/,
  ],
  [
    'one below min_sample: 3 of 19 (15.8%) is not judged, and no evidence',
    { speculativeTasks: 19, rollbacks: 3 },
    {},
    'insufficient_evidence',
    {},
    /^insufficient evidence: 19 of 20 speculative tasks .*below the minimum sample 20: rates not judged.*the phase proceeds only on evidence$/,
  ],
  [
    '50% of 10 tasks neither halts nor pauses',
    { speculativeTasks: 10, rollbacks: 5 },
    {},
    'insufficient_evidence',
    {},
    /50\.0% \(5\/10 speculative tasks, below the minimum sample 20/,
  ],
  ['no speculative task at all', { speculativeTasks: 0 }, {}, 'insufficient_evidence', {}, /0 of 20 speculative tasks/],
  [
    'insufficient evidence while holding',
    { speculativeTasks: 0 },
    { state: 'holding' },
    'insufficient_evidence',
    {},
    /not green, still holding at 20%$/,
  ],
  [
    'P1 alerts unobservable',
    { unknown: ['p1_alerts'] },
    {},
    'insufficient_evidence',
    {},
    /^insufficient evidence: P1 alerts: not observable by the injected source; rollback rate 0\.0%/,
  ],
  [
    'P1 alerts and memory unobservable',
    { unknown: ['p1_alerts', 'memory_growth'] },
    {},
    'insufficient_evidence',
    {},
    /P1 alerts: .*; memory growth: not observable/,
  ],
  ['proof queue at exactly 80% is green', { proofQueueDepth: 80 }, {}, 'continue', {}, /proof queue 80\.0%/],
  [
    'proof queue at 81% pauses',
    { proofQueueDepth: 81 },
    {},
    'pause',
    PAUSED,
    /^proof queue 81\/100 \(81\.0%\) > 80\.0%: scale proof workers: paused/,
  ],
  [
    'a full proof queue pauses on any sample',
    { speculativeTasks: 0, proofQueueDepth: 90 },
    {},
    'pause',
    PAUSED,
    /proof queue 90\/100/,
  ],
  [
    'a rate in the band and a full queue: both named',
    { rollbacks: 3, proofQueueDepth: 95 },
    {},
    'pause',
    PAUSED,
    /in \[5\.0%, 10\.0%\]; proof queue 95\/100/,
  ],
  [
    'a rate in the band while holding pauses',
    { rollbacks: 3 },
    { state: 'holding' },
    'pause',
    PAUSED,
    /paused, monitoring continues/,
  ],
  [
    'a rate in the band while paused: stays, the clear clock stops',
    { rollbacks: 3 },
    paused('metrics', NOW - 5 * MIN),
    'stay_paused',
    { clearSince: null },
    /^rollback rate 7\.5%.* in \[5\.0%, 10\.0%\]$/,
  ],
  ['halt while paused', { rollbacks: 5 }, paused('metrics'), 'halt', HALTED, /halted, investigate/],
  [
    'paused by an operator, readings clear: waits for the operator',
    {},
    paused('operator'),
    'stay_paused',
    {},
    /^readings clear \(.*\), paused by an operator: waiting for resume or approve$/,
  ],
  [
    'paused on metrics, first clear reading: the clear clock starts',
    {},
    paused('metrics'),
    'stay_paused',
    { clearSince: NOW },
    /resumes if still clear after a full interval$/,
  ],
  [
    'paused on metrics, clear for less than an interval',
    {},
    paused('metrics', NOW - 10 * MIN + 1),
    'stay_paused',
    {},
    /^readings clear \(.*\) since 2026-01-01T11:50:00\.001Z$/,
  ],
  [
    'paused on metrics, clear for exactly an interval: resumes, the window restarts',
    {},
    paused('metrics', NOW - 10 * MIN),
    'auto_resume',
    RESUMED,
    /^readings clear for a full interval/,
  ],
  [
    'paused on metrics, clear but no sample: still clear',
    { speculativeTasks: 0 },
    paused('metrics', NOW - 10 * MIN),
    'auto_resume',
    RESUMED,
    /below the minimum sample/,
  ],
  [
    'paused on metrics, memory high: the pause rules first',
    { memoryGrowthPerHour: 0.5 },
    paused('metrics'),
    'stay_paused',
    { clearSince: NOW },
    /readings clear/,
  ],
  ['memory growth at exactly 20%/h is green', { memoryGrowthPerHour: 0.2 }, {}, 'continue', {}, /memory 20\.0%\/h/],
  [
    'memory growth still high, reduced earlier: not green, the window restarts',
    { memoryGrowthPerHour: 0.35 },
    { lastReduceAt: NOW - 10 * MIN },
    'continue',
    { greenSince: NOW },
    /^memory growth 35\.0%\/h still high \(branches reduced at 2026-01-01T11:50:00\.000Z\); the green window restarts$/,
  ],
  [
    'memory growth high, reduced at this reading: nothing more to record',
    { memoryGrowthPerHour: 0.35 },
    { lastReduceAt: NOW },
    null,
    { greenSince: NOW },
    /reduced at this reading/,
  ],
  [
    'memory growth high while holding: back to monitoring',
    { memoryGrowthPerHour: 0.35 },
    { state: 'holding', lastReduceAt: NOW },
    null,
    { greenSince: NOW, state: 'monitoring' },
    /window restarts/,
  ],
];

describe('decideReading: the decision matrix on one reading', () => {
  test.each(MATRIX)('%s', (_what, r, over, action, next, reason) => {
    const step = decideReading(reading(r), phase(over), NOW, settings());
    expect(step.action).toBe(action);
    expect(step.next).toEqual(next);
    expect(step.reason).toMatch(reason);
    expect(step.end).toBeUndefined();
    if (action !== 'rollback_phase') expect(step.changes).toBeUndefined();
  });

  test('a P1 alert on the first phase rolls back to 0%', () => {
    const first = settings({ phase: 1, previousPercentage: 0, percentage: 10 });
    expect(decideReading(reading({ p1Alerts: ['A'] }), phase(), NOW, first).changes).toEqual({
      'speculation.features.rollout_percentage': 0,
    });
    expect(decideReading(reading({ p1Alerts: ['A'] }), phase(), NOW, settings()).changes).toEqual({
      'speculation.features.rollout_percentage': 10,
    });
  });

  test.each<[string, Partial<RolloutReadings>, string]>([
    ['below the sample counts as green', { speculativeTasks: 3 }, 'continue'],
    ['unobservable signals count as green', { unknown: ['p1_alerts'] }, 'continue'],
    ['rates still act only on a full sample', { speculativeTasks: 10, rollbacks: 5 }, 'continue'],
    ['a full sample still halts', { rollbacks: 5 }, 'halt'],
  ])('before the evidence rule (a run started before patch rollout-evidence): %s', (_what, r, action) => {
    expect(decideReading(reading(r), phase(), NOW, settings({ evidenceRule: false })).action).toBe(action);
  });
});

describe('memory growth: one branch fewer, at most once per metric window, never below 1', () => {
  test.each<[string, boolean, number, number | null]>([
    ['exactly 20%/h', false, 0.2, null],
    ['21%/h, never reduced', true, 0.21, null],
    ['35%/h, reduced a metric window ago less 1 ms', false, 0.35, NOW - HOUR + 1],
    ['35%/h, reduced exactly a metric window ago', true, 0.35, NOW - HOUR],
    ['35%/h, reduced at this very reading', false, 0.35, NOW],
  ])('%s → a reduction is due: %s', (_what, due, memoryGrowthPerHour, lastReduceAt) => {
    const judgement = judgeReading(reading({ memoryGrowthPerHour }), plan.thresholds);
    expect(branchReductionDue(judgement, phase({ lastReduceAt }), NOW, settings())).toBe(due);
  });

  test.each<[number, number | 'unchanged', RegExp]>([
    [4, 3, /^memory growth 35\.0%\/h > 20\.0%\/h: max_parallel_branches 4 → 3$/],
    [2, 1, /max_parallel_branches 2 → 1$/],
    [1, 'unchanged', /^memory growth 35\.0%\/h > 20\.0%\/h, but max_parallel_branches is already 1$/],
  ])('live max_parallel_branches %s → %s', (live, to, reason) => {
    const step = decideBranchReduction(reading({ memoryGrowthPerHour: 0.35 }), plan.thresholds, live);
    expect(step).toMatchObject({ action: 'reduce_branches', next: {} });
    expect(step.reason).toMatch(reason);
    expect(step.changes).toEqual(to === 'unchanged' ? undefined : { 'speculation.max_parallel_branches': to });
  });
});

describe('no reading at all: not green, the window restarts', () => {
  test.each<[PhaseState, object]>([
    ['monitoring', { greenSince: NOW }],
    ['holding', { greenSince: NOW, state: 'monitoring' }],
    ['paused', {}],
  ])('while %s', (state, next) => {
    const step = decideNoData('source down', phase({ state }), NOW);
    expect(step).toEqual({
      action: 'no_data',
      reason: 'metrics could not be read: source down; the green window restarts',
      next,
    });
  });
});

const over = NOW - HOUR;
/** Each row: the phase at the check (a window of 1h), and what it decides: nothing (null), proceed (with how it ends) or hold (with the state after). */
const WINDOWS: Array<
  [
    what: string,
    phase: Partial<PhaseCarry>,
    settings: Partial<PhaseSettings>,
    action: DecisionAction | null,
    endOrNext: object | undefined,
    reason: RegExp | null,
  ]
> = [
  ['green for less than the duration: wait', { greenSince: over + 1, evidence: SUFFICIENT }, {}, null, undefined, null],
  [
    'green for exactly the duration, ending on evidence: proceed',
    { greenSince: over, evidence: SUFFICIENT },
    {},
    'proceed',
    { outcome: 'completed', reason: 'green for 1h, with evidence' },
    /^green for the whole 1h window since 2026-01-01T11:00:00\.000Z, ending on a full sample: proceeding$/,
  ],
  [
    'the duration is over on insufficient evidence: hold',
    { greenSince: over, evidence: QUIET },
    {},
    'hold',
    { state: 'holding' },
    /but on insufficient evidence: 0 of 20 speculative tasks.*holding at 20% until/,
  ],
  [
    'the duration is over before any reading: hold',
    { greenSince: over },
    {},
    'hold',
    { state: 'holding' },
    /insufficient evidence: no reading yet;/,
  ],
  [
    'the duration is over on a red reading: hold',
    { greenSince: over, evidence: { ...SUFFICIENT, sufficient: false } },
    {},
    'hold',
    { state: 'holding' },
    /the latest reading was not green/,
  ],
  [
    'holding, evidence at last: proceed',
    { state: 'holding', greenSince: over, evidence: SUFFICIENT },
    {},
    'proceed',
    { outcome: 'completed' },
    /^evidence at last .* after holding since the 1h window ended: proceeding$/,
  ],
  [
    'holding, still no evidence: nothing new',
    { state: 'holding', greenSince: over, evidence: QUIET },
    {},
    null,
    undefined,
    null,
  ],
  ['paused: the green clock is stopped', { ...paused('operator'), evidence: SUFFICIENT }, {}, null, undefined, null],
  [
    'halted: waits for an operator',
    { state: 'halted', greenSince: null, evidence: SUFFICIENT },
    {},
    null,
    undefined,
    null,
  ],
  [
    'an ongoing phase never proceeds by itself',
    { greenSince: NOW - 365 * 24 * HOUR, evidence: SUFFICIENT },
    { durationMs: null, duration: 'ongoing' },
    null,
    undefined,
    null,
  ],
  [
    'before the evidence rule: green for the duration proceeds on any reading',
    { greenSince: over, evidence: QUIET },
    { evidenceRule: false },
    'proceed',
    { outcome: 'completed', reason: 'green for 1h' },
    /^green for the whole 1h window since 2026-01-01T11:00:00\.000Z: proceeding$/,
  ],
  ['before the evidence rule: not yet', { greenSince: over + 1 }, { evidenceRule: false }, null, undefined, null],
];

describe('decideWindow: the end of the green window', () => {
  test.each(WINDOWS)('%s', (_what, over_, settingsOver, action, endOrNext, reason) => {
    const step = decideWindow(phase(over_), NOW, settings(settingsOver));
    if (action === null) {
      expect(step).toBeNull();
    } else {
      expect(step!.action).toBe(action);
      expect(step!.reason).toMatch(reason!);
      if (action === 'proceed') expect(step).toMatchObject({ end: endOrNext, next: {} });
      else expect(step).toEqual({ action, reason: step!.reason, next: endOrNext });
    }
  });
});

describe('operator requests: pause and resume', () => {
  test.each<[PhaseState, boolean]>([
    ['monitoring', true],
    ['holding', true],
    ['paused', true],
    ['halted', false],
  ])('pause while %s → acts: %s', (state, acts) => {
    const step = operatorPause(phase({ state }));
    const pause = {
      action: 'operator_pause',
      reason: 'paused by an operator',
      next: { state: 'paused', pauseKind: 'operator', greenSince: null, clearSince: null },
    };
    expect(step).toEqual(acts ? pause : null);
  });

  test.each<[string, PhaseState, number, boolean]>([
    ['paused, next evaluation still ahead', 'paused', NOW + 5 * MIN, false],
    ['paused, next evaluation overdue: one is scheduled an interval on', 'paused', NOW - 1, true],
    ['halted, next evaluation due now: one is scheduled an interval on', 'halted', NOW, true],
  ])('resume from %s: monitoring and the green window restart', (_what, state, nextEvalAt, schedules) => {
    const step = operatorResume(
      phase({ state, nextEvalAt, pauseKind: 'metrics', clearSince: NOW - MIN }),
      NOW,
      settings(),
    );
    expect(step).toEqual({
      action: 'operator_resume',
      reason: `resumed from ${state}: monitoring restarts, the green window restarts`,
      next: {
        state: 'monitoring',
        pauseKind: null,
        clearSince: null,
        greenSince: NOW,
        ...(schedules ? { nextEvalAt: NOW + 10 * MIN } : {}),
      },
    });
  });

  test.each<PhaseState>(['monitoring', 'holding'])('resume while %s does nothing', (state) => {
    expect(operatorResume(phase({ state }), NOW, settings())).toBeNull();
  });

  test.each<[string, boolean, 'approve' | 'resume', Partial<PhaseCarry>, Partial<PhaseSettings>]>([
    ['resume after a P1 roll-back', true, 'resume', { state: 'halted', percentageSet: false, rolledBack: true }, {}],
    ['resume from an ordinary halt', false, 'resume', { state: 'halted' }, {}],
    ['resume while monitoring (ignored)', false, 'resume', { percentageSet: false }, {}],
    [
      'approve the last phase after a P1 roll-back',
      true,
      'approve',
      { state: 'halted', percentageSet: false, rolledBack: true },
      { isLast: true },
    ],
    [
      'approve another phase after a P1 roll-back (the next sets its own)',
      false,
      'approve',
      { state: 'halted', percentageSet: false, rolledBack: true },
      {},
    ],
    ['approve the last phase, percentage in force', false, 'approve', {}, { isLast: true }],
  ])('%s → sets the percentage again first: %s', (_what, again, request, over, settingsOver) => {
    expect(reappliesPercentage(request, phase(over), settings(settingsOver))).toBe(again);
  });
});

describe('operator requests: approve and abort end the phase', () => {
  test.each<PhaseState>(['monitoring', 'holding', 'paused', 'halted'])(
    'approve while %s ends the phase approved',
    (state) => {
      expect(operatorApprove(phase({ state }))).toEqual({
        action: 'operator_approve',
        reason: `approved in state ${state}: proceeding`,
        next: {},
        end: { outcome: 'approved', reason: 'approved by an operator' },
      });
    },
  );

  test('abort ends the phase aborted, with the operator reason', () => {
    expect(operatorAbort('bad canary')).toEqual({
      action: 'operator_abort',
      reason: 'bad canary',
      next: {},
      end: { outcome: 'aborted', reason: 'bad canary' },
    });
  });

  test.each([
    ['completed', 'completed'],
    ['approved', 'approved'],
    ['aborted', 'aborted'],
    ['orphaned', 'failed'],
  ] as const)('ended %s → state %s', (outcome, state) => {
    expect(endState(outcome)).toBe(state);
  });
});

describe('setPercentage', () => {
  test.each([
    [
      1,
      10,
      { 'speculation.features.rollout_percentage': 10, 'speculation.enabled': true },
      'rollout_percentage 10%, speculation enabled',
    ],
    [2, 20, { 'speculation.features.rollout_percentage': 20 }, 'rollout_percentage 20%'],
  ])('phase %s at %s%%', (n, percentage, changes, reason) => {
    expect(setPercentage({ phase: n, percentage })).toEqual({
      action: 'percentage_set',
      reason,
      changes,
      next: { percentageSet: true, rolledBack: false },
    });
  });
});

const ongoing = settings({ durationMs: null, duration: 'ongoing' });
/** Each row: a decision, the phase that records it, whether it is signalled to the rollout, and whether the phase remembers it as its latest quiet report. */
const REPORTS: Array<
  [
    what: string,
    action: DecisionAction,
    phase: Partial<PhaseCarry>,
    settings: PhaseSettings,
    send: boolean,
    remembered: boolean,
  ]
> = [
  ['a finite phase reports every green reading', 'continue', { lastQuietReportAt: NOW - MIN }, settings(), true, false],
  [
    'a finite phase reports insufficient evidence while monitoring',
    'insufficient_evidence',
    { lastQuietReportAt: NOW - MIN },
    settings(),
    true,
    false,
  ],
  [
    'holding: the first quiet reading is reported',
    'insufficient_evidence',
    { state: 'holding' },
    settings(),
    true,
    true,
  ],
  [
    'holding: the same again within the window is not',
    'insufficient_evidence',
    { state: 'holding', lastQuietReportAt: NOW - HOUR + 1, lastQuietAction: 'insufficient_evidence' },
    settings(),
    false,
    false,
  ],
  [
    'holding: the same again a window later is',
    'insufficient_evidence',
    { state: 'holding', lastQuietReportAt: NOW - HOUR, lastQuietAction: 'insufficient_evidence' },
    settings(),
    true,
    true,
  ],
  [
    'holding: a change of quiet action is reported at once',
    'continue',
    { state: 'holding', lastQuietReportAt: NOW - MIN, lastQuietAction: 'insufficient_evidence' },
    settings(),
    true,
    true,
  ],
  [
    'ongoing: green within the window is not reported',
    'continue',
    { lastQuietReportAt: NOW - MIN },
    ongoing,
    false,
    false,
  ],
  [
    'ongoing: an earlier report without an action counts as green',
    'continue',
    { lastQuietReportAt: NOW - MIN, lastQuietAction: undefined },
    ongoing,
    false,
    false,
  ],
  [
    'ongoing: a decision that changes something always is',
    'pause',
    { lastQuietReportAt: NOW - MIN },
    ongoing,
    true,
    false,
  ],
  [
    'before the evidence rule insufficient evidence is not quiet',
    'insufficient_evidence',
    { state: 'holding', lastQuietReportAt: NOW - MIN, lastQuietAction: 'insufficient_evidence' },
    settings({ evidenceRule: false }),
    true,
    false,
  ],
];

describe('rolloutReport: quiet readings of an ongoing or holding phase at most once per metric window', () => {
  test.each(REPORTS)('%s', (_what, action, over, s, send, remembered) => {
    const report = rolloutReport(action, phase(over), NOW, s);
    expect(report).toEqual({
      send,
      ...(remembered ? { quiet: { lastQuietReportAt: NOW, lastQuietAction: action } } : {}),
    });
  });
});

describe('what the phase waits for, and when it wakes', () => {
  test.each<[string, Partial<PhaseView>, Partial<PhaseSettings>, boolean, RegExp | null]>([
    ['ended', {}, {}, true, null],
    [
      'its percentage not yet taken',
      { nextEvalAt: 0 },
      {},
      false,
      /^the control workflow to take this phase's percentage$/,
    ],
    [
      'monitoring',
      {},
      {},
      false,
      /^green until 2026-01-01T12:30:00\.000Z to proceed \(next evaluation 2026-01-01T12:10:00\.000Z\)$/,
    ],
    ['ongoing', {}, { durationMs: null, duration: 'ongoing' }, false, /^ongoing: next evaluation .*; runs until abort/],
    [
      'holding',
      { state: 'holding' },
      {},
      false,
      /^evidence to proceed: a green reading on at least 20 speculative tasks/,
    ],
    [
      'paused on metrics',
      paused('metrics'),
      {},
      false,
      /^readings to be clear for a full interval \(10 min; next evaluation/,
    ],
    ['paused by an operator', paused('operator'), {}, false, /^an operator: resume or approve$/],
    [
      'halted',
      { state: 'halted' },
      {},
      false,
      /^an operator: approve \(proceed\), resume \(retry this phase\) or abort$/,
    ],
    [
      'halted after a P1 roll-back',
      { state: 'halted', rolledBack: true },
      {},
      false,
      /resume \(retry this phase at its percentage\)/,
    ],
  ])('%s', (_what, over, settingsOver, ended, expected) => {
    const text = waitingFor(phase(over), NOW, settings(settingsOver), ended);
    if (expected === null) expect(text).toBeNull();
    else expect(text).toMatch(expected);
  });

  test.each<[string, Partial<PhaseView>, Partial<PhaseSettings>, number]>([
    ['monitoring: the next evaluation, sooner than the window end', {}, {}, NOW + 10 * MIN],
    ['monitoring: the window end, sooner than the next evaluation', { greenSince: NOW - 55 * MIN }, {}, NOW + 5 * MIN],
    ['ongoing: the next evaluation', { greenSince: NOW - 55 * MIN }, { durationMs: null }, NOW + 10 * MIN],
    ['paused: the next evaluation', { ...paused('metrics'), greenSince: NOW - 55 * MIN }, {}, NOW + 10 * MIN],
    ['holding: the next evaluation', { state: 'holding', greenSince: NOW - 2 * HOUR }, {}, NOW + 10 * MIN],
  ])('%s', (_what, over, settingsOver, at) => {
    expect(nextWakeAt(phase(over), settings(settingsOver))).toBe(at);
  });
});
