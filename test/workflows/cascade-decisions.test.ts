/** The fast cascade's decisions as pure functions (workflows/cascade-decisions.ts), on small graphs. */
import fc from 'fast-check';
import type { CascadeAnswer } from '../../shared/messages';
import type { DependencyKind } from '../../shared/task-model';
import {
  type CascadeNode,
  cascadeMembers,
  causeOf,
  settledDependentsOf,
  settlementPlan,
  unread,
} from '../../workflows/cascade-decisions';

/** A graph from edges `parent → child[:kind]`; every task is awaiting its ancestors. */
function graph(edges: string[]): Map<string, CascadeNode> {
  const nodes = new Map<string, CascadeNode>();
  const node = (id: string) => {
    if (!nodes.has(id)) nodes.set(id, { status: 'awaiting_ancestors', parents: [], dependents: [] });
    return nodes.get(id)!;
  };
  for (const e of edges) {
    const [parent, rest] = e.split('→').map((x) => x.trim()) as [string, string];
    const [child, kind = 'data'] = rest.split(':') as [string, DependencyKind?];
    node(parent).dependents.push(child);
    node(child).parents.push({ task_id: parent, kind: kind as DependencyKind });
  }
  return nodes;
}

const joined = (dependents: string[] = [], bondLocked = true): Extract<CascadeAnswer, { joined: true }> => ({
  joined: true,
  agent: 'a',
  bondLocked,
  dependents,
});
const answersFor = (nodes: Map<string, CascadeNode>, members: string[], other: Record<string, CascadeAnswer> = {}) =>
  new Map(members.map((m) => [m, other[m] ?? joined(nodes.get(m)!.dependents)]));

const DIAMOND = ['A → B', 'A → C', 'B → D', 'C → D', 'D → E'];

test.each([
  ['a chain, cascade', ['A → B', 'B → C'], 'cascade', ['B', 'C']],
  ['the diamond, cascade', DIAMOND, 'cascade', ['B', 'C', 'D', 'E']],
  ['an order edge, cascade: rolls back too', ['A → B:order', 'B → C'], 'cascade', ['B', 'C']],
  ['an order edge, selective: goes on (and so does its subtree)', ['A → B:order', 'B → C'], 'selective', []],
  ['a confirmed edge, selective: rolls back', ['A → B:confirmed'], 'selective', ['B']],
  [
    'a join reached by a data edge and an order edge, selective: rolls back',
    ['A → B', 'A → C:order', 'B → D', 'C → D:order'],
    'selective',
    ['B', 'D'],
  ],
  ['an unrelated task is no member', ['A → B', 'X → Y'], 'cascade', ['B']],
] as const)('members: %s', (_name, edges, policy, members) => {
  expect(cascadeMembers('A', graph([...edges]), policy)).toEqual(members);
});

test('unread: the dependents of the origin and its members not read yet', () => {
  const nodes = graph(['A → B']);
  nodes.get('B')!.dependents.push('C', 'D');
  expect(unread('A', ['B'], nodes)).toEqual(['C', 'D']);
  expect(unread('A', [], new Map([['A', { status: 'rolling_back', parents: [], dependents: ['B'] }]]))).toEqual(['B']);
});

test('cause: the first parent in the cascade through a followed edge', () => {
  const nodes = graph(['A → D:order', 'B → D', 'C → D']);
  const inCascade = (id: string) => ['A', 'C'].includes(id);
  expect(causeOf(nodes.get('D')!, inCascade, 'selective')).toBe('C');
  expect(causeOf(nodes.get('D')!, inCascade, 'cascade')).toBe('A');
});

test('plan: every member joined: the batch is deepest first, each after every task below it', () => {
  const nodes = graph(DIAMOND);
  const members = cascadeMembers('A', nodes, 'cascade');
  const plan = settlementPlan('A', members, nodes, answersFor(nodes, members), 'cascade');
  expect(plan).toEqual({ batch: ['E', 'D', 'B', 'C'], selfSettling: [], blocked: [] });
  const batch = new Set(plan.batch);
  expect(settledDependentsOf('A', nodes, batch, answersFor(nodes, members))).toEqual(['B', 'C']);
  expect(settledDependentsOf('D', nodes, batch, answersFor(nodes, members))).toEqual(['E']);
});

test('plan: a member rolling back otherwise blocks the batch above it, not beside it', () => {
  // A → B → C → D and A → E; C already rolls back in another cascade (not final).
  const nodes = graph(['A → B', 'B → C', 'C → D', 'A → E']);
  const members = cascadeMembers('A', nodes, 'cascade');
  const other: Record<string, CascadeAnswer> = {
    C: { joined: false, final: false, status: 'rolling_back', why: "it rolls back in task X's cascade" },
  };
  const answers = answersFor(nodes, members, other);
  const plan = settlementPlan('A', members, nodes, answers, 'cascade');
  // D joined (C's rollback cannot hold it), B must wait for C; E is beside it.
  expect(plan).toEqual({ batch: ['D', 'E'], selfSettling: ['B'], blocked: ['C'] });
  expect(settledDependentsOf('A', nodes, new Set(plan.batch), answers)).toEqual(['E']);
});

test('plan: a member with effects to undo settles itself after its dependents, and so does every member above it', () => {
  // A → B → C → D, A → E, B → F; C and E have rows to delete (record tasks).
  const nodes = graph(['A → B', 'B → C', 'C → D', 'A → E', 'B → F']);
  const members = cascadeMembers('A', nodes, 'cascade');
  const answers = answersFor(nodes, members, {
    C: { ...joined(['D']), undoPending: true },
    E: { ...joined([]), undoPending: true },
  });
  const plan = settlementPlan('A', members, nodes, answers, 'cascade');
  // D (below C) and F (beside C) go in the batch; C and E undo theirs, B waits for C.
  expect(plan).toEqual({ batch: ['D', 'F'], selfSettling: ['B', 'C', 'E'], blocked: [] });
  expect(settledDependentsOf('A', nodes, new Set(plan.batch), answers)).toEqual([]);
  expect(settledDependentsOf('C', nodes, new Set(plan.batch), answers)).toEqual(['D']);
});

test('plan: a member already final counts as settled; an order dependent going on blocks nothing', () => {
  const nodes = graph(['A → B', 'A → C', 'B → D:order']);
  const members = cascadeMembers('A', nodes, 'selective');
  expect(members).toEqual(['B', 'C']);
  const answers = answersFor(nodes, members, {
    C: { joined: false, final: true, status: 'rolled_back', why: 'it is rolled_back' },
  });
  const plan = settlementPlan('A', members, nodes, answers, 'selective');
  expect(plan).toEqual({ batch: ['B'], selfSettling: [], blocked: [] });
  expect(settledDependentsOf('A', nodes, new Set(plan.batch), answers)).toEqual(['B', 'C']);
  expect(settledDependentsOf('B', nodes, new Set(plan.batch), answers)).toEqual([]); // D tells B itself
});

test('plan (property): on random DAGs the batch is a reverse topological order of the joined members', () => {
  const dag = fc
    .array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom<DependencyKind>('data', 'order', 'confirmed')), {
      maxLength: 40,
    })
    .map((pairs) => {
      // Edges go from a lower to a higher number: acyclic by construction. Task 0 is the origin.
      const edges = pairs
        .map(([x, y, kind]) => [x % 12, y % 12, kind] as const)
        .filter(([x, y]) => x < y)
        .map(([x, y, kind]) => `T${x} → T${y}:${kind}`);
      return [...new Set(edges)];
    });
  fc.assert(
    fc.property(dag, fc.constantFrom('cascade' as const, 'selective' as const), fc.nat(), (edges, policy, seed) => {
      const nodes = graph(edges);
      if (!nodes.has('T0')) return;
      const members = cascadeMembers('T0', nodes, policy);
      // Some members are blocked (rolling back otherwise), chosen by the seed.
      const other: Record<string, CascadeAnswer> = {};
      members.forEach((m, i) => {
        if ((seed >> i) % 5 === 0) other[m] = { joined: false, final: false, status: 'rolling_back', why: '' };
      });
      const plan = settlementPlan('T0', members, nodes, answersFor(nodes, members, other), policy);
      const position = new Map(plan.batch.map((m, i) => [m, i]));
      for (const m of plan.batch) {
        for (const d of nodes.get(m)!.dependents) {
          // Every member below a batched one is batched too, and settled before it.
          if (!members.includes(d) || !nodes.get(d)!.parents.some((p) => p.task_id === m)) continue;
          const kind = nodes.get(d)!.parents.find((p) => p.task_id === m)!.kind;
          if (policy === 'selective' && kind === 'order') continue;
          expect(position.get(d)).toBeDefined();
          expect(position.get(d)!).toBeLessThan(position.get(m)!);
        }
      }
      // Nothing is both batched and settling itself; blocked ones are in neither.
      for (const s of plan.selfSettling) expect(position.has(s)).toBe(false);
      for (const b of plan.blocked) expect(position.has(b) || plan.selfSettling.includes(b)).toBe(false);
    }),
    { numRuns: 300 },
  );
});
