/**
 * The fast cascade's decisions, pure: which descendants of a failed task roll back in its cascade, which
 * of them the origin's batch can settle, in what order, and what each hears. The activity that runs the
 * cascade (activities/cascade-activities.ts) reads the graph and acts on these; the task workflow's side
 * is workflows/task/cascade.ts.
 *
 * The invariant the order keeps: a bond is settled only after the bonds of every task below it in the
 * cascade (reverse topological order). A task the batch cannot settle (it is rolling back on its own, or
 * in another origin's cascade) settles itself after its own dependents, as a rollback without a cascade
 * does, and so do its ancestors in this cascade: they wait for it.
 */
import type { RollbackPolicy } from '../config/schema';
import type { CascadeAnswer } from '../shared/messages';
import type { DependencyKind, TaskState, TaskStatus } from '../shared/task-model';
import { parentFailureEffect } from './task-decisions';

/** What the cascade knows of one task of the graph. */
export interface CascadeNode {
  status: TaskStatus | 'closed';
  parents: Array<{ task_id: string; kind: DependencyKind }>;
  dependents: string[];
}

/** A task's node from its state (a run started before task graphs names its one data parent). */
export function cascadeNode(state: TaskState): CascadeNode {
  const parents =
    state.parents ?? (state.parent_task_id ? [{ task_id: state.parent_task_id, kind: 'data' as const }] : []);
  return { status: state.status, parents, dependents: [...state.dependents] };
}

/** Does a parent's failure roll this edge's dependent back under `policy`? */
export function followsEdge(kind: DependencyKind, policy: RollbackPolicy): boolean {
  return parentFailureEffect(kind, policy) === 'roll_back';
}

/**
 * The tasks that roll back with `origin`: reached from it through edges the policy follows, in the order
 * found (the origin not included). A task reached only through order edges under `selective` goes on.
 */
export function cascadeMembers(
  origin: string,
  nodes: ReadonlyMap<string, CascadeNode>,
  policy: RollbackPolicy,
): string[] {
  const members = new Set([origin]);
  const found: string[] = [];
  for (let grew = true; grew;) {
    grew = false;
    for (const [id, node] of nodes) {
      if (members.has(id)) continue;
      if (node.parents.some((p) => members.has(p.task_id) && followsEdge(p.kind, policy))) {
        members.add(id);
        found.push(id);
        grew = true;
      }
    }
  }
  return found;
}

/** The dependents of the origin and of its members that the cascade has not read yet. */
export function unread(origin: string, members: readonly string[], nodes: ReadonlyMap<string, CascadeNode>): string[] {
  const out = new Set<string>();
  for (const id of [origin, ...members]) for (const d of nodes.get(id)?.dependents ?? []) if (!nodes.has(d)) out.add(d);
  return [...out];
}

/** The parent a member rolls back for: its first parent in the cascade through a followed edge. */
export function causeOf(
  node: CascadeNode,
  inCascade: (taskId: string) => boolean,
  policy: RollbackPolicy,
): string | undefined {
  return node.parents.find((p) => inCascade(p.task_id) && followsEdge(p.kind, policy))?.task_id;
}

export interface SettlementPlan {
  /** Members whose bonds the origin settles, deepest first: each after every member below it. */
  batch: string[];
  /** Members that settle themselves after their dependents: a task below them is not the batch's. */
  selfSettling: string[];
  /** Members that did not join and are not final (rolling back otherwise, committing): they settle on their own. */
  blocked: string[];
}

/**
 * Splits the members into the batch and those that settle themselves, and orders the batch. `answers`
 * holds each member's answer to the join.
 */
export function settlementPlan(
  origin: string,
  members: readonly string[],
  nodes: ReadonlyMap<string, CascadeNode>,
  answers: ReadonlyMap<string, CascadeAnswer>,
  policy: RollbackPolicy,
): SettlementPlan {
  const joined = new Set(members.filter((m) => answers.get(m)?.joined));
  const blocked = members.filter((m) => {
    const a = answers.get(m);
    return a && !a.joined && !a.final;
  });
  // A member with effects to undo undoes them after its dependents have undone theirs: it settles itself.
  const undoing = members.filter((m) => {
    const a = answers.get(m);
    return a?.joined && a.undoPending;
  });
  // Every joined member above a blocked or undoing one, through followed edges, waits for it.
  const selfSettling = new Set<string>(undoing);
  const queue = [...blocked, ...undoing];
  while (queue.length) {
    const node = nodes.get(queue.shift()!)!;
    for (const p of node.parents) {
      if (joined.has(p.task_id) && !selfSettling.has(p.task_id) && followsEdge(p.kind, policy)) {
        selfSettling.add(p.task_id);
        queue.push(p.task_id);
      }
    }
  }
  const level = depthsBelow(origin, members, nodes, policy);
  const batch = members
    .filter((m) => joined.has(m) && !selfSettling.has(m))
    .map((m, i) => ({ m, i }))
    .sort((a, b) => level.get(b.m)! - level.get(a.m)! || a.i - b.i)
    .map(({ m }) => m);
  return { batch, selfSettling: members.filter((m) => selfSettling.has(m)), blocked };
}

/** Each member's longest path from the origin through followed edges (the origin is 0): sorting by it, deepest first, is a reverse topological order. */
function depthsBelow(
  origin: string,
  members: readonly string[],
  nodes: ReadonlyMap<string, CascadeNode>,
  policy: RollbackPolicy,
): Map<string, number> {
  const level = new Map<string, number>([[origin, 0]]);
  const inCascade = new Set([origin, ...members]);
  const depth = (id: string, visiting: Set<string>): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) throw new Error(`the task graph has a cycle through task ${id}`);
    visiting.add(id);
    const parents = nodes.get(id)!.parents.filter((p) => inCascade.has(p.task_id) && followsEdge(p.kind, policy));
    const d = 1 + Math.max(...parents.map((p) => depth(p.task_id, visiting)));
    visiting.delete(id);
    level.set(id, d);
    return d;
  };
  for (const m of members) depth(m, new Set());
  return level;
}

/**
 * The dependents of `taskId` it need not wait for before its own compensations: those the batch settled
 * and those already final. Dependents that settle themselves, and order dependents going on, tell it.
 */
export function settledDependentsOf(
  taskId: string,
  nodes: ReadonlyMap<string, CascadeNode>,
  batch: ReadonlySet<string>,
  answers: ReadonlyMap<string, CascadeAnswer>,
): string[] {
  return (nodes.get(taskId)?.dependents ?? []).filter((d) => {
    if (batch.has(d)) return true;
    const a = answers.get(d);
    return Boolean(a && !a.joined && a.final);
  });
}
