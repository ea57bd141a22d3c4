/** The control workflow's decisions as pure functions (workflows/control-decisions.ts), without a workflow. */
import fc from 'fast-check';
import { parseConfigOrThrow, type SpeculationConfig } from '../../config/schema';
import type { AdaptiveState, SpeculationRequest } from '../../shared/messages';
import {
  type ActiveSpeculation,
  activeOf,
  adaptDepth,
  adaptiveReset,
  initialAdaptive,
  speculationOutcome,
  admissionRefusal,
  cleanupCandidates,
  decideSpeculation,
  type SpeculationView,
} from '../../workflows/control-decisions';

const config = (speculation: Record<string, unknown> = {}): SpeculationConfig =>
  parseConfigOrThrow({
    speculation: { enabled: true, mode: 'balanced', features: { rollout_percentage: 100 }, ...speculation },
  });

const view = (over: Partial<SpeculationView> = {}): SpeculationView => ({
  config: config(),
  paused: false,
  draining: false,
  active: new Map(),
  cooldowns: new Map(),
  ...over,
});

const request = (over: Partial<SpeculationRequest> = {}): SpeculationRequest => ({
  taskId: 't1',
  parentTaskId: 'p',
  agent: 'a',
  parentAgent: 'a',
  depth: 1,
  workerMemoryMb: 100,
  ...over,
});

const active = (n: number, parentTaskId = 'p'): Map<string, ActiveSpeculation> =>
  new Map(Array.from({ length: n }, (_, i) => [`s${i}`, { taskId: `s${i}`, parentTaskId, agent: 'a', depth: 1 }]));

test('admission: exactly max_pending_operations tasks, a retried submission keeps its slot', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 60 }), (limit, open) => {
      const slots = new Map(Array.from({ length: open }, (_, i) => [`t${i}`, 0]));
      const cfg = config({ limits: { max_pending_operations: limit } });
      const refusal = admissionRefusal(slots, 'new-task', cfg);
      expect(refusal === undefined).toBe(open < limit);
      if (open > 0) expect(admissionRefusal(slots, 't0', cfg)).toBeUndefined();
      if (refusal)
        expect(refusal).toBe(
          `${open} tasks are open, the limit is speculation.limits.max_pending_operations = ${limit}; wait for tasks to finish or raise the limit`,
        );
    }),
  );
});

test('speculation: each refusal reason, in the order an operator would look for it', () => {
  const cases: Array<[string, SpeculationView, Partial<SpeculationRequest>]> = [
    ['disabled', view({ config: config({ enabled: false, features: { rollout_percentage: 0 } }) }), {}],
    ['disabled', view({ paused: true }), {}],
    ['draining', view({ draining: true }), {}],
    ['not_in_rollout', view({ config: config({ features: { rollout_percentage: 0 } }) }), {}],
    ['depth_limit', view(), { depth: 6 }],
    ['cooldown', view({ cooldowns: new Map([['a', 2000]]) }), {}],
    ['disabled', view(), { parentAgent: 'b' }],
    ['branch_limit', view({ active: active(4) }), {}],
    [
      'memory_limit',
      view({ config: config({ limits: { max_state_snapshots: 3 } }), active: active(3, 'elsewhere') }),
      {},
    ],
    ['memory_limit', view({ config: config({ limits: { max_memory_mb: 512 } }) }), { workerMemoryMb: 513 }],
  ];
  for (const [reason, v, req] of cases) {
    expect(decideSpeculation(v, request(req), 1000)).toMatchObject({ allowed: false, reason });
  }
  expect(decideSpeculation(view({ cooldowns: new Map([['a', 1000]]) }), request(), 1000)).toMatchObject({
    allowed: true,
  });
  expect(decideSpeculation(view({ active: active(3) }), request(), 1000)).toMatchObject({ allowed: true });
  // A task already active is allowed again (a retried admission after a worker crash), whatever changed since.
  expect(
    decideSpeculation(
      view({ draining: true, active: new Map([['t1', { taskId: 't1', parentTaskId: 'p', agent: 'a', depth: 1 }]]) }),
      request(),
      0,
    ),
  ).toMatchObject({ allowed: true });
});

test('rollout targeting: a targeted agent or task-id prefix is inside the rollout at any percentage, and nothing else changes', () => {
  const canary = (features: Record<string, unknown>) =>
    view({ config: config({ features: { rollout_percentage: 0, ...features } }) });
  const targeted = canary({ rollout_target_agents: ['smoke'], rollout_target_task_prefixes: ['smoke-', 'canary.'] });
  expect(decideSpeculation(targeted, request({ agent: 'smoke', parentAgent: 'smoke' }), 0)).toEqual({ allowed: true });
  expect(decideSpeculation(targeted, request({ taskId: 'canary.42' }), 0)).toEqual({ allowed: true });
  // A prefix matches from the start only; any other agent's task stays outside, and the refusal names the keys.
  for (const taskId of ['t1', 'x-smoke-1', 'canary']) {
    expect(decideSpeculation(targeted, request({ taskId }), 0)).toMatchObject({
      allowed: false,
      reason: 'not_in_rollout',
      detail: expect.stringContaining('rollout_target_agents or rollout_target_task_prefixes'),
    });
  }
  // Targeting opens the rollout, not the other limits: a targeted task is still held to max_depth.
  expect(decideSpeculation(targeted, request({ agent: 'smoke', parentAgent: 'smoke', depth: 6 }), 0)).toMatchObject({
    allowed: false,
    reason: 'depth_limit',
  });
  // Disabled speculation stays off for targeted traffic too.
  const off = view({
    config: config({ enabled: false, features: { rollout_percentage: 0, rollout_target_agents: ['smoke'] } }),
  });
  expect(decideSpeculation(off, request({ agent: 'smoke', parentAgent: 'smoke' }), 0)).toMatchObject({
    reason: 'disabled',
  });
});

test('a join is checked under each of its unconfirmed parents: the branch limit and the cross-agent rule', () => {
  const join = request({ otherParents: [{ taskId: 'q', agent: 'a' }] });
  // Four branches already run under q (the join's other parent): refused, naming q.
  expect(decideSpeculation(view({ active: active(4, 'q') }), join, 0)).toMatchObject({
    allowed: false,
    reason: 'branch_limit',
    detail: expect.stringContaining('under q'),
  });
  // A join counts as a branch under each parent it speculates on.
  const joins = new Map([['j', activeOf(join)]]);
  expect(activeOf(join)).toMatchObject({ parentTaskId: 'p', otherParentTaskIds: ['q'] });
  const limitOne = config({ max_parallel_branches: 1 });
  expect(
    decideSpeculation(view({ config: limitOne, active: joins }), request({ taskId: 't2', parentTaskId: 'q' }), 0),
  ).toMatchObject({ allowed: false, reason: 'branch_limit' });
  // Another agent's parent, even the second one, is cross-agent speculation.
  expect(decideSpeculation(view(), request({ otherParents: [{ taskId: 'q', agent: 'b' }] }), 0)).toMatchObject({
    allowed: false,
    reason: 'disabled',
    detail: expect.stringContaining("parent task q is agent b's"),
  });
  expect(decideSpeculation(view({ active: active(3, 'q') }), join, 0)).toMatchObject({ allowed: true });
});

test('clean-up candidates: every active speculation, and stale admissions round-robin so every leak is reached', () => {
  const open = new Map(Array.from({ length: 10 }, (_, i) => [`t${i}`, i * 100]));
  const state = { active: new Map([['s', {}]]), open };
  const first = cleanupCandidates(state, { nowMs: 1000, graceMs: 300, cursor: undefined, batch: 3 });
  // t0..t7 are older than the grace (reserved at or before 700); t8 and t9 may still be starting.
  expect(first).toEqual({ taskIds: ['s', 't0', 't1', 't2'], cursor: 't2' });
  const second = cleanupCandidates(state, { nowMs: 1000, graceMs: 300, cursor: first.cursor, batch: 3 });
  expect(second.taskIds).toEqual(['s', 't3', 't4', 't5']);
  const third = cleanupCandidates(state, { nowMs: 1000, graceMs: 300, cursor: second.cursor, batch: 3 });
  expect(third.taskIds).toEqual(['s', 't6', 't7', 't0']);
  expect(
    cleanupCandidates({ active: new Map(), open: new Map() }, { nowMs: 0, graceMs: 0, cursor: 'gone', batch: 3 }),
  ).toEqual({
    taskIds: [],
    cursor: 'gone',
  });
});

describe('adaptive speculation', () => {
  const adaptive = (over: Record<string, unknown> = {}) => config({ max_depth: 5, adaptive: over });
  const endMany = (cfg: SpeculationConfig, outcomes: Array<'confirmed' | 'rolled_back'>): AdaptiveState =>
    outcomes.reduce((s, o) => adaptDepth(s, o, cfg), initialAdaptive(cfg));
  const rolledBackOf = (n: number, rolledBack: number) =>
    Array.from({ length: n }, (_, i): 'confirmed' | 'rolled_back' => (i < rolledBack ? 'rolled_back' : 'confirmed'));

  test('the depth follows the rollback rate over each min_samples speculations, within [min_depth, max_depth]', () => {
    const cfg = adaptive({ min_samples: 20 });
    // [ended speculations, of which rolled back, depth it starts from] → the depth after them
    const cases: Array<[number, number, number, number]> = [
      [19, 19, 5, 5], // too few to judge
      [20, 2, 5, 4], // 10% > 5%: one step down
      [20, 1, 5, 5], // exactly 5% is not over it: stays
      [20, 0, 4, 5], // 0% < 1%: one step up
      [20, 0, 5, 5], // never above max_depth
      [20, 20, 1, 1], // never below min_depth
      [40, 40, 5, 3], // two windows, two steps
    ];
    for (const [n, rolledBack, from, to] of cases) {
      const start: AdaptiveState = { depth: from, ended: 0, rolledBack: 0 };
      expect([
        n,
        rolledBack,
        from,
        rolledBackOf(n, rolledBack).reduce((s, o) => adaptDepth(s, o, cfg), start).depth,
      ]).toEqual([n, rolledBack, from, to]);
    }
    expect(endMany(adaptive({ min_depth: 3, min_samples: 1 }), rolledBackOf(10, 10)).depth).toBe(3);
  });

  test('which ended statuses count as what', () => {
    expect(
      ['confirmed', 'committing', 'rolled_back', 'failed', 'rolling_back', 'executing', ''].map(speculationOutcome),
    ).toEqual(['confirmed', 'confirmed', 'rolled_back', 'rolled_back', 'rolled_back', undefined, undefined]);
  });

  test('refusals: saturated past the backlog or load limit, adaptive_depth past the adapted depth, never at or under the floor', () => {
    const cfg = adaptive({ min_depth: 2, max_proof_backlog: 10, max_load_per_core: 3 });
    const lowered: AdaptiveState = { depth: 3, ended: 0, rolledBack: 0 };
    const cases: Array<[Partial<SpeculationRequest>, string]> = [
      [{ depth: 3 }, 'allowed'],
      [{ depth: 4 }, 'adaptive_depth'],
      [{ depth: 3, proofBacklog: 11 }, 'saturated'],
      [{ depth: 3, proofBacklog: 10 }, 'allowed'],
      [{ depth: 3, loadPerCore: 3.5 }, 'saturated'],
      [{ depth: 2, proofBacklog: 1_000, loadPerCore: 50 }, 'allowed'], // the floor
      [{ depth: 1, proofBacklog: 1_000 }, 'allowed'],
    ];
    const v = view({ config: cfg, adaptive: lowered });
    expect(
      cases.map(([req]) => {
        const verdict = decideSpeculation(v, request(req), 0);
        return verdict.allowed ? 'allowed' : verdict.reason;
      }),
    ).toEqual(cases.map(([, reason]) => reason));
    const refused = decideSpeculation(v, request({ depth: 3, proofBacklog: 11 }), 0);
    expect(refused.allowed ? '' : refused.detail).toBe(
      '11 proofs wait in agenc-proofs (speculation.adaptive.max_proof_backlog 10); a task deeper than speculation.adaptive.min_depth 2 waits for confirmation',
    );
    // Switched off, or a history from before it (no adaptive state): nothing is refused for it.
    expect(
      decideSpeculation(
        view({ config: adaptive({ enabled: false }), adaptive: lowered }),
        request({ depth: 5, proofBacklog: 1e6 }),
        0,
      ),
    ).toEqual({ allowed: true });
    expect(decideSpeculation(view({ config: cfg }), request({ depth: 5, proofBacklog: 1e6 }), 0)).toEqual({
      allowed: true,
    });
  });

  test('an operator changing max_depth or the [speculation.adaptive] rules restarts it from max_depth', () => {
    const cfg = adaptive();
    expect(adaptiveReset(cfg, adaptive())).toBe(false);
    expect(adaptiveReset(cfg, config({ max_depth: 6 }))).toBe(true);
    expect(adaptiveReset(cfg, adaptive({ min_depth: 2 }))).toBe(true);
    expect(adaptiveReset(cfg, config({ max_depth: 5, features: { rollout_percentage: 50 } }))).toBe(false);
  });
});
