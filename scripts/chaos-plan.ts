/**
 * What a chaos run does, as pure functions of its seed: the task tree (with the failures mixed in),
 * the outcome every task must reach, and the schedule of kills. `scripts/chaos.ts` carries it out; the
 * same seed gives the same tree and the same schedule (where a kill lands in time still depends on
 * the machine).
 */
import type { RollbackReason, TaskStatus } from '../shared/task-model';

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const between = (rand: Rand, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));

export function shuffle<T>(rand: Rand, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A task's own fault: `execution` ({"fail": true}) or `proof` (a wrong `claimed_output`, so its proof fails). */
export type Fault = 'none' | 'execution' | 'proof';

export interface PlannedTask {
  taskId: string;
  parentTaskId?: string;
  agent: string;
  fault: Fault;
  payload: Record<string, unknown>;
  /** Trees are submitted in waves, so the run's phases recur across the kill schedule. */
  wave: number;
}

export interface ExpectedOutcome {
  status: Extract<TaskStatus, 'confirmed' | 'failed' | 'rolled_back'>;
  reason: RollbackReason | null;
  /** What happens to the bond if the task took one (whether it speculates depends on timing). */
  bond: 'released' | 'slashed';
}

const MAX_TREE_DEPTH = 5;

/**
 * Trees of 3–8 tasks (chains and fan-out), one agent per tree (speculation across agents is off by
 * default, and a slash cools down only that tree's agent). At most one fault per tree, so a task's
 * outcome never depends on which of two failures came first; the first tree fails a proof and the
 * second an execution, each at a task with dependents (below the root where the tree allows), so both kinds of parent failure always occur.
 */
export function planTasks(rand: Rand, opts: { tasks: number; waves: number; prefix: string }): PlannedTask[] {
  const out: PlannedTask[] = [];
  let tree = 0;
  while (out.length < opts.tasks) {
    const left = opts.tasks - out.length;
    let size = between(rand, 3, 8);
    if (left - size < 3) size = left;
    const agent = `chaos-${tree}`;
    const wave = tree % opts.waves;
    const nodes: { taskId: string; parent?: number; depth: number }[] = [];
    for (let i = 0; i < size; i++) {
      const taskId = `${opts.prefix}-t${String(out.length + i).padStart(2, '0')}`;
      if (i === 0) {
        nodes.push({ taskId, depth: 0 });
        continue;
      }
      // Half the time extend the newest task (chains), else hang off any task (fan-out).
      const candidates = nodes.map((n, idx) => ({ n, idx })).filter(({ n }) => n.depth < MAX_TREE_DEPTH);
      const chosen = rand() < 0.5 && nodes[i - 1]!.depth < MAX_TREE_DEPTH ? i - 1 : pick(rand, candidates).idx;
      nodes.push({ taskId, parent: chosen, depth: nodes[chosen]!.depth + 1 });
    }
    const withDependents = nodes.map((_, idx) => idx).filter((idx) => nodes.some((n) => n.parent === idx));
    const fault: Fault =
      tree === 0 ? 'proof' : tree === 1 ? 'execution' : pick(rand, ['none', 'none', 'proof', 'execution'] as const);
    let faultAt = -1;
    if (fault !== 'none') {
      // Below the root where possible: a dependent speculates, so the failure slashes a bond (a compensation to aim at).
      const inner = withDependents.filter((idx) => idx > 0);
      faultAt =
        tree < 2 && withDependents.length
          ? pick(rand, inner.length ? inner : withDependents)
          : between(rand, 0, size - 1);
    }
    nodes.forEach((n, idx) => {
      const own: Fault = idx === faultAt ? fault : 'none';
      const value = between(rand, 1, 1000);
      // work_ms widens the execution window the kills aim at.
      const payload: Record<string, unknown> =
        own === 'execution'
          ? { fail: true }
          : {
              value,
              work_ms: between(rand, 300, 2500),
              ...(own === 'proof' ? { claimed_output: String(between(rand, 1, 999)) } : {}),
            };
      out.push({
        taskId: n.taskId,
        parentTaskId: n.parent === undefined ? undefined : nodes[n.parent]!.taskId,
        agent,
        fault: own,
        payload,
        wave,
      });
    });
    tree += 1;
  }
  return out;
}

/**
 * The outcome the inputs dictate: a task confirms iff neither it nor an ancestor fails; its own fault
 * fails it (bond slashed); an ancestor's rolls it back (bond released): `parent_failed` under the
 * failing task itself, `parent_rolled_back` further down. `lost`: tasks whose proof attempts all died
 * with their proof worker (or the server), which the rules roll back as `proof_unavailable`, bond
 * released: the system's fault, decided by where the kills landed, not by the inputs alone.
 */
export function expectedOutcome(
  task: PlannedTask,
  byId: ReadonlyMap<string, PlannedTask>,
  lost: ReadonlySet<string> = new Set(),
): ExpectedOutcome {
  let parent = task.parentTaskId ? byId.get(task.parentTaskId) : undefined;
  let direct = true;
  while (parent) {
    if (parent.fault !== 'none')
      return { status: 'rolled_back', reason: direct ? 'parent_failed' : 'parent_rolled_back', bond: 'released' };
    if (lost.has(parent.taskId)) return { status: 'rolled_back', reason: 'parent_rolled_back', bond: 'released' };
    direct = false;
    parent = parent.parentTaskId ? byId.get(parent.parentTaskId) : undefined;
  }
  if (lost.has(task.taskId)) return { status: 'rolled_back', reason: 'proof_unavailable', bond: 'released' };
  if (task.fault !== 'none')
    return {
      status: 'failed',
      reason: task.fault === 'execution' ? 'execution_failed' : 'proof_failed',
      bond: 'slashed',
    };
  return { status: 'confirmed', reason: null, bond: 'released' };
}

export const PHASES = ['executing', 'proving', 'bonding', 'committing', 'compensating'] as const;
export type Phase = (typeof PHASES)[number];
const PHASE_ORDER: readonly Phase[] = ['bonding', 'executing', 'proving', 'compensating', 'committing'];
export const TARGETS = ['task-worker', 'proof-worker', 'temporal-server'] as const;
export type Target = (typeof TARGETS)[number];

export interface PlannedKill {
  target: Target;
  phase: Phase;
  /** How long the target stays dead before it is restarted. */
  downMs: number;
  /** The wave submitted before this kill waits for its phase. */
  wave: number;
}

/**
 * Every phase and every target at least once, in a seeded order. A proof-worker kill aims at proving
 * (where it holds work). A task-worker kill during a commit stalls that commit for the activity's
 * 2-minute start-to-close timeout, so the quick run kills the server there instead.
 */
export function planKills(rand: Rand, opts: { kills: number; waves: number; quick: boolean }): PlannedKill[] {
  const phases: Phase[] = shuffle(rand, PHASES);
  while (phases.length < opts.kills) phases.push(pick(rand, PHASES));
  const targets = phases.map((phase): Target => {
    if (phase === 'proving') return rand() < 0.75 ? 'proof-worker' : 'temporal-server';
    if (phase === 'committing' && opts.quick) return 'temporal-server';
    return pick(rand, ['task-worker', 'temporal-server'] as const);
  });
  const provingAt = phases.indexOf('proving');
  if (!targets.includes('proof-worker')) targets[provingAt] = 'proof-worker';
  // Where either the task worker or the server may die: make sure each of them dies at least once.
  const free = phases
    .map((p, i) => i)
    .filter((i) => phases[i] !== 'proving' && !(opts.quick && phases[i] === 'committing'));
  for (const [needed, other] of [
    ['task-worker', 'temporal-server'],
    ['temporal-server', 'task-worker'],
  ] as const) {
    const spare = free.find((i) => targets[i] === other);
    if (!targets.includes(needed) && spare !== undefined && targets.filter((t) => t === other).length > 1)
      targets[spare] = needed;
  }
  // The full run also keeps the server down past the 10 s heartbeat timeout of a proof, so in-flight
  // attempts time out while nobody can hear them.
  const downMs = (target: Target) => between(rand, 300, target === 'temporal-server' && !opts.quick ? 15_000 : 3000);
  const kills = phases.map((phase, i) => ({
    phase,
    target: targets[i]!,
    downMs: downMs(targets[i]!),
    wave: Math.min(opts.waves - 1, Math.floor((i * opts.waves) / opts.kills)),
  }));
  // Within a wave, in the order a tree goes through its phases: a kill waiting for an early phase
  // after a late one would find the wave past it.
  return kills.sort((a, b) => a.wave - b.wave || PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase));
}
