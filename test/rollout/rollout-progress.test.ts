/**
 * The rollout's own state as pure functions (workflows/rollout-progress.ts), without a workflow: its
 * phases before they start, its state from the current phase's, what it waits for, its Current Details
 * line, and a phase's status as the phase reports it. The workflow that carries these out is driven
 * on the time-skipping server by test/rollout/rollout-phase.test.ts and rollout-plan.test.ts.
 */
import {
  type Decision,
  MAX_DECISIONS_KEPT,
  type PhaseState,
  type PhaseStatus,
  parsePlan,
  type RolloutState,
} from '../../shared/rollout-model';
import {
  currentPhase,
  pendingPhases,
  phaseAfterDecision,
  phaseAfterResult,
  rolloutDetails,
  rolloutState,
  type RolloutView,
  rolloutWaitingFor,
} from '../../workflows/rollout-progress';

const parsed = parsePlan({
  evaluation_interval: '10 minutes',
  phases: [
    { name: 'Canary', percentage: 10, duration: '1h' },
    { name: 'Full', percentage: 100, duration: 'ongoing' },
  ],
});
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const plan = parsed.plan;

/** The rollout in phase 1 (in `phaseState`), unless overridden. */
function view(
  o: {
    state?: RolloutState;
    current?: number | null;
    phaseState?: PhaseState;
    pausedBetween?: boolean;
    phase?: Partial<PhaseStatus>;
  } = {},
): RolloutView {
  const phases = pendingPhases(plan);
  const current = o.current === undefined ? 1 : o.current;
  if (current)
    Object.assign(phases[current - 1]!, {
      state: o.phaseState ?? 'monitoring',
      started_at: '2026-01-01T00:00:00.000Z',
      ...o.phase,
    });
  return { state: o.state ?? 'running', current, phases, pausedBetween: o.pausedBetween ?? false };
}

const decision = (n: number): Decision => ({
  phase: 1,
  at: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
  action: 'continue',
  reason: `#${n}`,
});

test('pendingPhases: every phase of the plan, numbered from 1, none started', () => {
  expect(pendingPhases(plan)).toEqual([
    {
      phase: 1,
      name: 'Canary',
      percentage: 10,
      duration: '1h',
      state: 'pending',
      started_at: null,
      ended_at: null,
      green_since: null,
      evaluations: 0,
      decisions: [],
      decisions_dropped: 0,
      decision_counts: {},
      waiting_for: null,
    },
    expect.objectContaining({ phase: 2, name: 'Full', percentage: 100, duration: 'ongoing', state: 'pending' }),
  ]);
});

test('currentPhase: none before the first phase starts', () => {
  expect(currentPhase(view({ current: null }))).toBeUndefined();
  expect(currentPhase(view({ current: 2 }))?.name).toBe('Full');
});

describe('rolloutState follows the current phase until the rollout has ended', () => {
  it.each([
    // rollout state   phase state     paused between  →
    ['running', 'monitoring', false, 'running'],
    ['running', 'holding', false, 'holding'],
    ['running', 'paused', false, 'paused'],
    ['running', 'halted', false, 'halted'],
    ['running', 'monitoring', true, 'paused'],
    ['running', 'holding', true, 'paused'],
    ['running', 'halted', true, 'halted'],
    // As the workflow does today: the halt after a failed phase is not the phase's state, so a resume
    // or a late report there shows `running` while the rollout still waits for approve or abort.
    ['halted', 'failed', false, 'running'],
    ['halted', 'completed', true, 'paused'],
    ['paused', 'monitoring', false, 'running'],
    ['completed', 'halted', true, 'completed'],
    ['aborted', 'paused', false, 'aborted'],
  ] as const)('%s, phase %s, paused between %s → %s', (state, phaseState, pausedBetween, expected) => {
    expect(rolloutState(view({ state, phaseState, pausedBetween }))).toBe(expected);
  });

  it('before the first phase: running, or paused', () => {
    expect(rolloutState(view({ current: null }))).toBe('running');
    expect(rolloutState(view({ current: null, pausedBetween: true }))).toBe('paused');
  });
});

test('rolloutWaitingFor: nothing once ended; before a phase, an operator if paused; else what the phase waits for', () => {
  expect(rolloutWaitingFor(view({ current: null }))).toBeNull();
  expect(rolloutWaitingFor(view({ current: null, pausedBetween: true }))).toBe(
    'resume or approve to start the next phase',
  );
  expect(rolloutWaitingFor(view())).toBe('phase 1');
  expect(rolloutWaitingFor(view({ phase: { waiting_for: 'approve, resume or abort' } }))).toBe(
    'approve, resume or abort',
  );
  expect(rolloutWaitingFor(view({ state: 'completed', phase: { waiting_for: 'x' } }))).toBeNull();
  expect(rolloutWaitingFor(view({ state: 'aborted', pausedBetween: true }))).toBeNull();
});

describe('rolloutDetails', () => {
  it('names the state, the current phase and what it waits for', () => {
    expect(rolloutDetails(view({ current: null }))).toBe('**running**');
    expect(rolloutDetails(view({ current: null, state: 'paused', pausedBetween: true }))).toBe(
      '**paused** — waiting for resume or approve to start the next phase',
    );
    expect(rolloutDetails(view({ phase: { waiting_for: 'the end of the green window' } }))).toBe(
      '**running** — phase 1/2 Canary (10%): monitoring — waiting for the end of the green window',
    );
    expect(rolloutDetails(view({ state: 'completed', current: 2, phaseState: 'approved' }))).toBe(
      '**completed** — phase 2/2 Full (100%): approved',
    );
  });

  it('says what evidence a phase lacks while it runs, not after it ended', () => {
    const evidence = {
      sufficient: false,
      insufficient: true,
      missing: ['0 of 20 speculative tasks', 'P1 alerts'],
      unknown: [],
      at: '2026-01-01T01:00:00.000Z',
    };
    expect(
      rolloutDetails(view({ state: 'holding', phaseState: 'holding', phase: { evidence, waiting_for: 'evidence' } })),
    ).toBe(
      '**holding** — phase 1/2 Canary (10%): holding — insufficient evidence: 0 of 20 speculative tasks; P1 alerts — waiting for evidence',
    );
    expect(
      rolloutDetails(view({ phaseState: 'approved', phase: { evidence, ended_at: '2026-01-01T02:00:00.000Z' } })),
    ).toBe('**running** — phase 1/2 Canary (10%): approved — waiting for phase 1');
    expect(
      rolloutDetails(
        view({ phase: { evidence: { ...evidence, sufficient: true, insufficient: false, missing: [] } } }),
      ),
    ).toBe('**running** — phase 1/2 Canary (10%): monitoring — waiting for phase 1');
  });
});

describe('a phase reports its status', () => {
  const reported = (over: Partial<PhaseStatus> = {}): PhaseStatus => ({
    ...view().phases[0]!,
    evaluations: 7,
    waiting_for: 'x',
    decisions: [],
    ...over,
  });

  it('a decision: the reported status, with the decision added to the ones kept', () => {
    const phase = { ...view().phases[0]!, decisions: [decision(1)] };
    const next = phaseAfterDecision(phase, decision(2), reported({ decisions_dropped: 99 }));
    expect(next).toMatchObject({
      evaluations: 7,
      waiting_for: 'x',
      decisions: [decision(1), decision(2)],
      decisions_dropped: 0,
    });
    expect(phase.decisions).toEqual([decision(1)]);
  });

  it(`keeps the last ${MAX_DECISIONS_KEPT} decisions and counts the ones dropped`, () => {
    const full = Array.from({ length: MAX_DECISIONS_KEPT }, (_, i) => decision(i));
    const next = phaseAfterDecision(
      { ...view().phases[0]!, decisions: full, decisions_dropped: 3 },
      decision(MAX_DECISIONS_KEPT),
      reported(),
    );
    expect(next.decisions).toHaveLength(MAX_DECISIONS_KEPT);
    expect(next.decisions[0]).toEqual(decision(1));
    expect(next.decisions.at(-1)).toEqual(decision(MAX_DECISIONS_KEPT));
    expect(next.decisions_dropped).toBe(4);
  });

  it('its result: the final status, with the decisions reported one by one', () => {
    const phase = { ...view().phases[0]!, decisions: [decision(1), decision(2)], decisions_dropped: 5 };
    const next = phaseAfterResult(
      phase,
      reported({ state: 'completed', ended_at: '2026-01-01T02:00:00.000Z', decisions_dropped: 0 }),
    );
    expect(next).toMatchObject({
      state: 'completed',
      ended_at: '2026-01-01T02:00:00.000Z',
      evaluations: 7,
      decisions_dropped: 5,
    });
    expect(next.decisions).toEqual([decision(1), decision(2)]);
  });
});
