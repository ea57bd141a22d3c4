/** The control workflow's decisions as pure functions (workflows/control-decisions.ts), without a workflow. */
import fc from 'fast-check';
import { parseConfigOrThrow, type SpeculationConfig } from '../../config/schema';
import type { SpeculationRequest } from '../../shared/messages';
import {
  type ActiveSpeculation,
  activeOf,
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
