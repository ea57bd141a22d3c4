/**
 * `agenc task graph` / client/task-graph.ts: the walk over ancestors and descendants, the nodes and
 * edges it builds and their text and DOT renderings, on task states held in memory (the diamond
 * A → B (data), A → C (order), B → D (data), C → D (confirmed)); then the CLI's flags and its answer for
 * an unknown task against the suite's Temporal.
 */
import { spawnSync } from 'node:child_process';
import {
  buildTaskGraph,
  renderGraphDot,
  renderGraphText,
  type TaskGraph,
  walkTaskGraph,
} from '../../client/task-graph';
import { TaskNotFoundError } from '../../client/tasks';
import type { DependencyKind, TaskState } from '../../shared/task-model';
import { runAgenc } from '../helpers/agenc-cli';

function taskState(
  id: string,
  over: Partial<TaskState> & { parentsOf?: Array<[string, DependencyKind]> } = {},
): TaskState {
  const { parentsOf = [], ...rest } = over;
  return {
    task_id: id,
    workflow_id: `task-${id}`,
    type: 'compute',
    agent: 'default',
    agent_public_key: null,
    payload: { value: 1 },
    parent_task_id: parentsOf[0]?.[0] ?? null,
    parents: parentsOf.map(([task_id, kind]) => ({ task_id, kind })),
    root_task_id: 'A',
    status: 'executing',
    speculation_status: 'speculative',
    depth: 1,
    dependents: [],
    result: null,
    result_commitment: null,
    parent_commitment: null,
    bond: null,
    proof: { state: 'none' },
    commit_signature: null,
    committed_by: null,
    rollback_reason: null,
    error: null,
    waiting_for: null,
    timestamps: {},
    ...rest,
  };
}

const diamond: Record<string, TaskState> = {
  A: taskState('A', {
    status: 'confirmed',
    speculation_status: 'non_speculative',
    depth: 0,
    dependents: ['B', 'C'],
    bond: { address: 'bond-A', amount: 1_000_000, state: 'released' },
  }),
  B: taskState('B', {
    parentsOf: [['A', 'data']],
    dependents: ['D'],
    bond: { address: 'bond-B', amount: 1_500_000, state: 'locked' },
  }),
  C: taskState('C', { parentsOf: [['A', 'order']], status: 'rolled_back', rollback_reason: 'execution_failed' }),
  D: taskState('D', {
    parentsOf: [
      ['B', 'data'],
      ['C', 'confirmed'],
    ],
    status: 'waiting_parent',
    speculation_status: 'pending',
    depth: 0,
  }),
};

/** A state query over states held in memory: an id it does not hold is an unknown task, as for a real one. */
function readFrom(states: Record<string, TaskState>): (id: string) => Promise<TaskState> {
  return async (id) => {
    const state = states[id];
    if (!state) throw new TaskNotFoundError(id);
    return state;
  };
}

const DIAMOND_EDGES = [
  { from: 'A', to: 'B', kind: 'data' },
  { from: 'A', to: 'C', kind: 'order' },
  { from: 'B', to: 'D', kind: 'data' },
  { from: 'C', to: 'D', kind: 'confirmed' },
];

describe('walkTaskGraph', () => {
  test('from the join D: every ancestor, parents before children, each edge with its kind', async () => {
    const read = jest.fn(readFrom(diamond));
    const graph = await walkTaskGraph('D', read);
    expect(read.mock.calls.map(([id]) => id)).toEqual(['D', 'B', 'C', 'A']);
    expect(graph.nodes.map((n) => [n.task_id, n.relation])).toEqual([
      ['A', 'ancestor'],
      ['B', 'ancestor'],
      ['C', 'ancestor'],
      ['D', 'self'],
    ]);
    expect(graph.edges).toEqual(DIAMOND_EDGES);
    expect(graph).toMatchObject({ task_id: 'D', truncated: false, missing: [] });
  });

  test('from the root A: every descendant, the join D once', async () => {
    const graph = await walkTaskGraph('A', readFrom(diamond));
    expect(graph.nodes.map((n) => [n.task_id, n.relation])).toEqual([
      ['A', 'self'],
      ['B', 'descendant'],
      ['C', 'descendant'],
      ['D', 'descendant'],
    ]);
    expect(graph.edges).toEqual(DIAMOND_EDGES);
  });

  test("from B: its ancestor and descendant, not its sibling C (nor C's edge to D)", async () => {
    const graph = await walkTaskGraph('B', readFrom(diamond));
    expect(graph.nodes.map((n) => [n.task_id, n.relation])).toEqual([
      ['A', 'ancestor'],
      ['B', 'self'],
      ['D', 'descendant'],
    ]);
    expect(graph.edges).toEqual([
      { from: 'A', to: 'B', kind: 'data' },
      { from: 'B', to: 'D', kind: 'data' },
    ]);
  });

  test('a node carries status, speculation status, depth, agent, bond amount and state, rollback reason', async () => {
    const graph = await walkTaskGraph('A', readFrom(diamond));
    expect(graph.nodes.find((n) => n.task_id === 'B')).toEqual({
      task_id: 'B',
      status: 'executing',
      speculation_status: 'speculative',
      depth: 1,
      agent: 'default',
      bond: { amount: 1_500_000, state: 'locked' },
      rollback_reason: null,
      relation: 'descendant',
    });
    expect(graph.nodes.find((n) => n.task_id === 'C')).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'execution_failed',
      bond: null,
    });
  });

  test('a state from before task graphs (no `parents`) has its `parent_task_id` as one data parent', async () => {
    const { parents: _dropped, ...old } = taskState('old-child', { parentsOf: [['old-root', 'data']] });
    const states = { 'old-root': taskState('old-root', { dependents: ['old-child'] }), 'old-child': old };
    const graph = await walkTaskGraph('old-child', readFrom(states));
    expect(graph.nodes.map((n) => n.task_id)).toEqual(['old-root', 'old-child']);
    expect(graph.edges).toEqual([{ from: 'old-root', to: 'old-child', kind: 'data' }]);
  });

  test('--max-nodes bounds the reads and the graph says it was cut', async () => {
    const read = jest.fn(readFrom(diamond));
    const graph = await walkTaskGraph('A', read, { maxNodes: 2 });
    expect(read).toHaveBeenCalledTimes(2);
    expect(graph.truncated).toBe(true);
    expect(graph.nodes.map((n) => n.task_id)).toEqual(['A', 'B']);
    expect(graph.edges).toEqual([{ from: 'A', to: 'B', kind: 'data' }]);
  });

  test('a graph that fits --max-nodes exactly is not cut', async () => {
    const graph = await walkTaskGraph('A', readFrom(diamond), { maxNodes: 4 });
    expect(graph).toMatchObject({ truncated: false });
    expect(graph.nodes).toHaveLength(4);
  });

  test('an unknown task is TaskNotFoundError; a relative whose workflow is gone is listed as missing', async () => {
    await expect(walkTaskGraph('nope', readFrom(diamond))).rejects.toThrow(TaskNotFoundError);
    const { C: _gone, ...withoutC } = diamond;
    const graph = await walkTaskGraph('A', readFrom(withoutC));
    expect(graph.missing).toEqual([{ task_id: 'C', relation: 'descendant' }]);
    expect(graph.nodes.map((n) => n.task_id)).toEqual(['A', 'B', 'D']);
    expect(graph.edges).toEqual([
      { from: 'A', to: 'B', kind: 'data' },
      { from: 'B', to: 'D', kind: 'data' },
    ]);
  });

  test('any other failure of a read (no worker to answer) fails the walk', async () => {
    const read = async (id: string) => {
      if (id === 'B') throw new Error('query timed out');
      return diamond[id]!;
    };
    await expect(walkTaskGraph('A', read)).rejects.toThrow('query timed out');
  });
});

describe('renderGraphText', () => {
  test('one line per task with status, depth and bond, the task itself marked, then the edges with kinds', async () => {
    const text = renderGraphText(await walkTaskGraph('B', readFrom(diamond)));
    const lines = text.split('\n');
    expect(lines[0]).toBe('task graph of B: 3 task(s), 2 edge(s) (* this task)');
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}A\s+ancestor\s+confirmed\s+non_speculative\s+0\s+1000000 released/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^\* B\s+self\s+executing\s+speculative\s+1\s+1500000 locked/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}D\s+descendant\s+waiting_parent\s+pending\s+0\s+-/));
    expect(text).toContain('edges (parent -> child, kind):\n  A -> B  data\n  B -> D  data');
    expect(text).not.toContain('cut at');
  });

  test('says when the graph was cut, and which relatives no longer exist', () => {
    const graph = buildTaskGraph('A', [{ state: diamond.A!, relation: 'self' }], {
      truncated: true,
      missing: [{ task_id: 'C', relation: 'descendant' }],
    });
    const text = renderGraphText(graph);
    expect(text).toContain('cut at 2 tasks: raise --max-nodes to see the rest');
    expect(text).toContain("no longer exist (closed and past the namespace's retention): C (descendant)");
    expect(text).toContain('  (none)');
  });
});

/**
 * DOT's structure as this renderer writes it: a `digraph "…" {` line, attribute statements, one node
 * statement per node and one edge statement per edge (each endpoint a declared node), `}`. Quoted
 * strings may hold only escaped quotes.
 */
function parseDot(dot: string): { name: string; nodes: Map<string, string>; edges: Array<[string, string, string]> } {
  const QUOTED = '"((?:[^"\\\\]|\\\\.)*)"';
  const lines = dot.split('\n');
  const head = new RegExp(`^digraph ${QUOTED} \\{$`).exec(lines[0] ?? '');
  if (!head) throw new Error(`not a digraph header: ${lines[0]}`);
  if (lines.at(-1) !== '}') throw new Error(`not closed: ${lines.at(-1)}`);
  const nodes = new Map<string, string>();
  const edges: Array<[string, string, string]> = [];
  for (const line of lines.slice(1, -1)) {
    const node = new RegExp(`^ {2}${QUOTED} \\[(.*)\\];$`).exec(line);
    const edge = new RegExp(`^ {2}${QUOTED} -> ${QUOTED} \\[(.*)\\];$`).exec(line);
    if (edge) {
      const [, from = '', to = '', attrs = ''] = edge;
      if (!nodes.has(from) || !nodes.has(to)) throw new Error(`edge to an undeclared node: ${line}`);
      edges.push([from, to, attrs]);
    } else if (node) nodes.set(node[1] ?? '', node[2] ?? '');
    else if (!/^ {2}(rankdir=TB|node \[.*\]|label=".*");$/.test(line)) throw new Error(`not a statement: ${line}`);
  }
  return { name: head[1] ?? '', nodes, edges };
}

describe('renderGraphDot', () => {
  let graph: TaskGraph;
  beforeAll(async () => {
    graph = await walkTaskGraph('D', readFrom(diamond));
  });

  test('a digraph with a node per task (id, status, depth; filled by status) and an edge per dependency', () => {
    const dot = parseDot(renderGraphDot(graph));
    expect(dot.name).toBe('task D');
    expect([...dot.nodes.keys()]).toEqual(['A', 'B', 'C', 'D']);
    expect(dot.nodes.get('A')).toBe('label="A\\nconfirmed\\ndepth 0", fillcolor="palegreen"');
    expect(dot.nodes.get('C')).toBe('label="C\\nrolled_back\\ndepth 1", fillcolor="lightsalmon"');
    expect(dot.nodes.get('D')).toBe('label="D\\nwaiting_parent\\ndepth 0", fillcolor="gray90", penwidth=3');
  });

  test('edge style per kind: data solid, order dashed, confirmed bold', () => {
    const { edges } = parseDot(renderGraphDot(graph));
    expect(edges).toEqual([
      ['A', 'B', 'style=solid, label="data"'],
      ['A', 'C', 'style=dashed, label="order"'],
      ['B', 'D', 'style=solid, label="data"'],
      ['C', 'D', 'style=bold, label="confirmed"'],
    ]);
  });

  test('a cut graph says so in its label', () => {
    const cut = renderGraphDot({ ...graph, truncated: true });
    expect(parseDot(cut).nodes.size).toBe(4);
    expect(cut).toContain('  label="cut at 4 tasks (--max-nodes)";');
  });

  const dot = spawnSync('which', ['dot']).status === 0;
  (dot ? test : test.skip)('Graphviz renders it (dot -Tsvg exits 0)', () => {
    for (const g of [graph, { ...graph, truncated: true }]) {
      const run = spawnSync('dot', ['-Tsvg'], { input: renderGraphDot(g), encoding: 'utf8' });
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      expect(run.stdout).toContain('<svg');
    }
  });
});

describe('agenc task graph', () => {
  const agenc = (...args: string[]) => runAgenc(args);

  test('--help explains the three outputs and --max-nodes', async () => {
    const run = await agenc('task', 'graph', '--help');
    expect(run.code).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(
      /--output <format> text: .* json: \{task_id, nodes, edges, truncated, missing\}; dot: a Graphviz/,
    );
    expect(help).toContain('(choices: "text", "json", "dot", default: "text")');
    expect(help).toMatch(/--max-nodes <n> .*\(default: "200"\)/);
  });

  test.each(['0', '-1', '2.5', 'many'])('--max-nodes %s is refused as bad input (exit 2)', async (n) => {
    const run = await agenc('task', 'graph', 'A', '--max-nodes', n);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toBe(`agenc: --max-nodes must be a whole number of tasks >= 1, got ${JSON.stringify(n)}\n`);
  });

  test('an unknown task is exit 2 naming it, as for `agenc task status`; JSON mode answers with the error', async () => {
    const text = await agenc('task', 'graph', 'no-such-task');
    expect(text).toMatchObject({ code: 2, stdout: '', stderr: 'agenc: task "no-such-task" does not exist\n' });
    const status = await agenc('task', 'status', 'no-such-task');
    expect(status).toEqual(text);
    const json = await agenc('task', 'graph', 'no-such-task', '--output', 'json');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      error: 'task "no-such-task" does not exist',
      field: 'task_id',
      code: 'unknown_task',
    });
  });
});
