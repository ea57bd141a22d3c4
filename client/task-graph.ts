/**
 * `agenc task graph ID`: the part of the task graph one task stands in, read from the task workflows
 * themselves (a state query each), since visibility holds no edge kinds.
 *
 * Glossary:
 * - ancestor: a parent of the task, or a parent of an ancestor (found through each state's `parents`).
 * - descendant: a dependent of the task, or a dependent of a descendant (each state's `dependents`).
 * - edge: one parent → child dependency with its kind (data, order, confirmed), as the child names it.
 *
 * The graph holds the task, its ancestors and its descendants, not their other relatives: in the diamond
 * A → B, A → C, B + C → D, B's graph is A, B and D; D's other parent C is not in it (nor its edge to D).
 *
 * `taskGraph` walks breadth-first from the task, reading at most `maxNodes` states; the rest is pure
 * (`nextToVisit`, `buildTaskGraph`, `renderGraphText`, `renderGraphDot`) so it can be tested without a
 * running system.
 */
import type { Client } from '@temporalio/client';
import type {
  BondState,
  DependencyKind,
  RollbackReason,
  SpeculationStatus,
  TaskState,
  TaskStatus,
} from '../shared/task-model';
import { table } from './output';
import { getTaskState, TaskNotFoundError } from './tasks';

export const DEFAULT_MAX_NODES = 200;

/** How many states the walk reads at once. */
const READ_CONCURRENCY = 16;

export type GraphRelation = 'self' | 'ancestor' | 'descendant';

export interface GraphNode {
  task_id: string;
  status: TaskStatus;
  speculation_status: SpeculationStatus;
  depth: number;
  agent: string;
  bond: Pick<BondState, 'amount' | 'state'> | null;
  rollback_reason: RollbackReason | null;
  relation: GraphRelation;
}

export interface GraphEdge {
  /** The parent. */
  from: string;
  /** The child, which named `from` as a parent of this kind. */
  to: string;
  kind: DependencyKind;
}

/** A task a read state names whose workflow no longer exists (closed and past the namespace's retention). */
export interface MissingTask {
  task_id: string;
  relation: Exclude<GraphRelation, 'self'>;
}

export interface TaskGraph {
  task_id: string;
  /** Parents before their children; the walk's order among tasks that do not depend on each other. */
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** True when the walk stopped at `maxNodes` with tasks still to read: the graph is then a part. */
  truncated: boolean;
  missing: MissingTask[];
}

/** A task state's parents: its list, or the one data parent of a state from before task graphs. */
export function parentsOfState(state: TaskState): Array<{ task_id: string; kind: DependencyKind }> {
  if (state.parents) return state.parents;
  return state.parent_task_id === null ? [] : [{ task_id: state.parent_task_id, kind: 'data' }];
}

/** Where the walk goes from a task: up from an ancestor, down from a descendant, both ways from the task itself. */
export function nextToVisit(
  state: TaskState,
  relation: GraphRelation,
): Array<{ task_id: string; relation: Exclude<GraphRelation, 'self'> }> {
  const up = relation === 'descendant' ? [] : parentsOfState(state).map((p) => p.task_id);
  const down = relation === 'ancestor' ? [] : state.dependents;
  return [
    ...up.map((task_id) => ({ task_id, relation: 'ancestor' as const })),
    ...down.map((task_id) => ({ task_id, relation: 'descendant' as const })),
  ];
}

export interface VisitedTask {
  state: TaskState;
  relation: GraphRelation;
}

/**
 * The graph of the states read, in the order they were read (the task itself first): one node per
 * state, one edge per parent a read child names that was read too, nodes ordered parents first.
 */
export function buildTaskGraph(
  taskId: string,
  visited: readonly VisitedTask[],
  walk: { truncated: boolean; missing?: MissingTask[] } = { truncated: false },
): TaskGraph {
  const read = new Set(visited.map((v) => v.state.task_id));
  const edges = visited.flatMap(({ state }) =>
    parentsOfState(state)
      .filter((p) => read.has(p.task_id))
      .map((p): GraphEdge => ({ from: p.task_id, to: state.task_id, kind: p.kind })),
  );
  const nodes = visited.map(({ state: s, relation }): GraphNode => ({
    task_id: s.task_id,
    status: s.status,
    speculation_status: s.speculation_status,
    depth: s.depth,
    agent: s.agent,
    bond: s.bond ? { amount: s.bond.amount, state: s.bond.state } : null,
    rollback_reason: s.rollback_reason,
    relation,
  }));
  const order = parentsFirst(
    nodes.map((n) => n.task_id),
    edges,
  );
  const rank = new Map(order.map((id, i) => [id, i]));
  const byRank = (a: string, b: string) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0);
  return {
    task_id: taskId,
    nodes: [...nodes].sort((a, b) => byRank(a.task_id, b.task_id)),
    edges: [...edges].sort((a, b) => byRank(a.to, b.to) || byRank(a.from, b.from)),
    truncated: walk.truncated,
    missing: walk.missing ?? [],
  };
}

/**
 * A topological order (Kahn's), taking the earliest ready task in `ids`' order each time. A cycle cannot
 * form (a parent exists before its dependent, and task ids are never reused); were one read, its tasks
 * would come last rather than be lost.
 */
function parentsFirst(ids: readonly string[], edges: readonly GraphEdge[]): string[] {
  const index = new Map(ids.map((id, i) => [id, i]));
  const children = new Map<string, string[]>();
  const waitingOn = new Map(ids.map((id) => [id, 0]));
  for (const e of edges) {
    if (!children.has(e.from)) children.set(e.from, []);
    children.get(e.from)!.push(e.to);
    waitingOn.set(e.to, (waitingOn.get(e.to) ?? 0) + 1);
  }
  const ready = ids.filter((id) => waitingOn.get(id) === 0);
  const order: string[] = [];
  while (ready.length) {
    ready.sort((a, b) => (index.get(b) ?? 0) - (index.get(a) ?? 0));
    const id = ready.pop()!;
    order.push(id);
    for (const child of children.get(id) ?? []) {
      const left = (waitingOn.get(child) ?? 0) - 1;
      waitingOn.set(child, left);
      if (left === 0) ready.push(child);
    }
  }
  const placed = new Set(order);
  return [...order, ...ids.filter((id) => !placed.has(id))];
}

/**
 * Walks the graph around `taskId` breadth-first with `read` (a state query), at most `maxNodes` reads.
 * The task itself must exist (TaskNotFoundError otherwise); a relative whose workflow is gone is listed
 * in `missing`. Any other failure of a read (no worker to answer a query) fails the walk.
 */
export async function walkTaskGraph(
  taskId: string,
  read: (taskId: string) => Promise<TaskState>,
  opts: { maxNodes?: number } = {},
): Promise<TaskGraph> {
  const maxNodes = opts.maxNodes ?? DEFAULT_MAX_NODES;
  const self = await read(taskId);
  const visited: VisitedTask[] = [{ state: self, relation: 'self' }];
  const missing: MissingTask[] = [];
  const seen = new Set([taskId]);
  let frontier = nextToVisit(self, 'self');
  let truncated = false;
  while (frontier.length && !truncated) {
    const unseen: typeof frontier = [];
    for (const t of frontier) {
      if (seen.has(t.task_id)) continue;
      seen.add(t.task_id);
      unseen.push(t);
    }
    const budget = maxNodes - visited.length - missing.length;
    truncated = unseen.length > budget;
    const toRead = unseen.slice(0, Math.max(0, budget));
    frontier = [];
    for (let i = 0; i < toRead.length; i += READ_CONCURRENCY) {
      const slice = toRead.slice(i, i + READ_CONCURRENCY);
      const states = await Promise.all(slice.map((t) => readRelative(t.task_id, read)));
      slice.forEach((t, j) => {
        const state = states[j];
        if (state === undefined) {
          missing.push(t);
        } else {
          visited.push({ state, relation: t.relation });
          frontier.push(...nextToVisit(state, t.relation));
        }
      });
    }
  }
  return buildTaskGraph(taskId, visited, { truncated, missing });
}

async function readRelative(
  taskId: string,
  read: (taskId: string) => Promise<TaskState>,
): Promise<TaskState | undefined> {
  try {
    return await read(taskId);
  } catch (err) {
    if (err instanceof TaskNotFoundError) return undefined;
    throw err;
  }
}

/** The graph around a task, from its workflow's and its relatives' state queries. */
export function taskGraph(client: Client, taskId: string, opts: { maxNodes?: number } = {}): Promise<TaskGraph> {
  return walkTaskGraph(taskId, (id) => getTaskState(client, id), opts);
}

function bondText(bond: GraphNode['bond']): string | null {
  return bond ? `${bond.amount} ${bond.state}` : null;
}

/** One line per task (the task itself marked `*`), then one per edge with its kind. */
export function renderGraphText(graph: TaskGraph): string {
  const rows = graph.nodes.map((n) => ({
    task: `${n.relation === 'self' ? '*' : ' '} ${n.task_id}`,
    relation: n.relation,
    status: n.status,
    speculation: n.speculation_status,
    depth: n.depth,
    bond: bondText(n.bond),
    rollback_reason: n.rollback_reason,
  }));
  const lines = [
    `task graph of ${graph.task_id}: ${graph.nodes.length} task(s), ${graph.edges.length} edge(s) (* this task)`,
    '',
    table(rows, ['task', 'relation', 'status', 'speculation', 'depth', 'bond', 'rollback_reason']),
    '',
    'edges (parent -> child, kind):',
    ...(graph.edges.length ? graph.edges.map((e) => `  ${e.from} -> ${e.to}  ${e.kind}`) : ['  (none)']),
  ];
  if (graph.missing.length)
    lines.push(
      '',
      `no longer exist (closed and past the namespace's retention): ${graph.missing.map((m) => `${m.task_id} (${m.relation})`).join(', ')}`,
    );
  if (graph.truncated)
    lines.push('', `cut at ${graph.nodes.length + graph.missing.length} tasks: raise --max-nodes to see the rest`);
  return lines.join('\n');
}

/** Edge style per kind: data solid, order dashed (no output flows), confirmed bold (waits for confirmation). */
const EDGE_STYLE: Record<DependencyKind, string> = { data: 'solid', order: 'dashed', confirmed: 'bold' };

/** Fill colour per status: greys waiting, blues running, yellows awaiting confirmation, green confirmed, reds undone. */
const STATUS_COLOUR: Record<TaskStatus, string> = {
  pending: 'white',
  waiting_parent: 'gray90',
  executing: 'lightblue',
  executed: 'lightblue',
  proving: 'lightskyblue',
  awaiting_ancestors: 'lightyellow',
  committing: 'khaki',
  rolling_back: 'orange',
  confirmed: 'palegreen',
  failed: 'salmon',
  rolled_back: 'lightsalmon',
};

/** A DOT double-quoted string. */
function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** A Graphviz digraph, parents above children: `dot -Tsvg` draws it. */
export function renderGraphDot(graph: TaskGraph): string {
  const lines = [
    `digraph ${dotString(`task ${graph.task_id}`)} {`,
    '  rankdir=TB;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
  ];
  if (graph.truncated)
    lines.push(`  label=${dotString(`cut at ${graph.nodes.length + graph.missing.length} tasks (--max-nodes)`)};`);
  for (const n of graph.nodes) {
    const label = `${n.task_id}\n${n.status}\ndepth ${n.depth}`;
    const self = n.relation === 'self' ? ', penwidth=3' : '';
    lines.push(
      `  ${dotString(n.task_id)} [label=${dotString(label)}, fillcolor=${dotString(STATUS_COLOUR[n.status])}${self}];`,
    );
  }
  for (const e of graph.edges)
    lines.push(
      `  ${dotString(e.from)} -> ${dotString(e.to)} [style=${EDGE_STYLE[e.kind]}, label=${dotString(e.kind)}];`,
    );
  lines.push('}');
  return lines.join('\n');
}
