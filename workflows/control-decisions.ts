/**
 * What `speculation-control` decides, as pure functions of its state: whether a task may be admitted
 * (`max_pending_operations`) and whether a task may speculate (every limit that spans tasks). The
 * workflow holds the state and applies the decisions; tests call these directly.
 *
 * Imported by workflow code: no Node built-ins, no clock of its own (`nowMs` is passed in).
 */
import type { SpeculationConfig } from '../config/schema';
import type { AdaptiveState, SpeculationRequest, SpeculationVerdict } from '../shared/messages';
import { inRollout, isRolloutTarget } from '../shared/rollout-bucket';
import { type BreakerState, isTripped } from './breaker-decisions';

export interface ActiveSpeculation {
  taskId: string;
  parentTaskId: string;
  /** A join's other unconfirmed parents: a branch under each of them too. */
  otherParentTaskIds?: string[];
  agent: string;
  depth: number;
}

/** The part of the control state a speculation decision reads. */
export interface SpeculationView {
  config: SpeculationConfig;
  paused: boolean;
  draining: boolean;
  active: ReadonlyMap<string, ActiveSpeculation>;
  /** Agent → epoch ms until which it may not speculate. */
  cooldowns: ReadonlyMap<string, number>;
  /** What the admissions and active speculations take in the continue-as-new input (stateBytes). */
  bytes?: number;
  /** Adaptive speculation's state; absent: no adaptive speculation (a history from before it). */
  adaptive?: AdaptiveState;
  /** The circuit breaker's state; absent: no breaker (a history from before it). */
  breaker?: BreakerState;
}

/** The message a refused submission carries: the one text the CLI, the admin API and the tests read. */
export function tooManyPendingMessage(open: number, limit: number): string {
  return `${open} tasks are open, the limit is speculation.limits.max_pending_operations = ${limit}; wait for tasks to finish or raise the limit`;
}

/**
 * The control workflow carries its whole state across continue-as-new as one payload, which the server
 * refuses past 2 MiB (2,097,152 bytes). Its admissions and active speculations are kept within this
 * budget (the rest is for the configuration and the cooldowns), so however long task ids are, the state
 * always fits: past it a task is refused, saying why, instead of the workflow failing at continue-as-new.
 */
export const STATE_BUDGET_BYTES = 1_900_000;

/** What one admission adds to the continue-as-new input (`"<id>":<epoch ms>,` in its JSON). */
export function admissionBytes(taskId: string): number {
  return taskId.length + 18;
}

/** What one active speculation adds to the continue-as-new input (its JSON object, and its id should it be rolled back). */
export function speculationBytes(a: ActiveSpeculation): number {
  const others = a.otherParentTaskIds ?? [];
  return (
    2 * a.taskId.length + a.parentTaskId.length + a.agent.length + 64 + others.reduce((n, id) => n + id.length + 3, 0)
  );
}

/** The bytes the admissions and active speculations take in the continue-as-new input. */
export function stateBytes(state: {
  open: ReadonlyMap<string, unknown>;
  active: ReadonlyMap<string, ActiveSpeculation>;
}): number {
  let bytes = 0;
  for (const id of state.open.keys()) bytes += admissionBytes(id);
  for (const a of state.active.values()) bytes += speculationBytes(a);
  return bytes;
}

/** The message a task refused for the state's size carries. */
export function stateFullMessage(open: number, bytes: number): string {
  return (
    `speculation-control's state is full: ${open} open tasks take about ${bytes} of the ${STATE_BUDGET_BYTES} bytes it carries across ` +
    `continue-as-new (the server refuses more than 2 MiB); wait for tasks to finish, or use shorter task ids`
  );
}

/**
 * May one more task be admitted? A task already admitted is admitted again (a retried submission).
 * `bytes` is what the state takes now (stateBytes); past STATE_BUDGET_BYTES nothing more is admitted.
 */
export function admissionRefusal(
  open: ReadonlyMap<string, unknown>,
  taskId: string,
  config: SpeculationConfig,
  bytes = 0,
): string | undefined {
  const limit = config.speculation.limits.max_pending_operations;
  if (open.has(taskId)) return undefined;
  if (open.size >= limit) return tooManyPendingMessage(open.size, limit);
  if (bytes + admissionBytes(taskId) > STATE_BUDGET_BYTES) return stateFullMessage(open.size, bytes);
  return undefined;
}

/** Is this speculation a branch under that parent (its first, or one of a join's others)? */
function underParent(a: ActiveSpeculation, parentTaskId: string): boolean {
  return a.parentTaskId === parentTaskId || Boolean(a.otherParentTaskIds?.includes(parentTaskId));
}

/** What the control workflow records of an allowed request. */
export function activeOf(req: SpeculationRequest): ActiveSpeculation {
  return {
    taskId: req.taskId,
    parentTaskId: req.parentTaskId,
    ...(req.otherParents?.length ? { otherParentTaskIds: req.otherParents.map((p) => p.taskId) } : {}),
    agent: req.agent,
    depth: req.depth,
  };
}

/** Every limit that spans tasks, checked against one consistent state; `allowed` means the caller records the task as active. */
export function decideSpeculation(view: SpeculationView, req: SpeculationRequest, nowMs: number): SpeculationVerdict {
  const s = view.config.speculation;
  const refuse = (
    reason: Extract<SpeculationVerdict, { allowed: false }>['reason'],
    detail: string,
  ): SpeculationVerdict => ({
    allowed: false,
    reason,
    detail,
  });
  if (view.active.has(req.taskId)) return { allowed: true };
  if (!s.enabled) return refuse('disabled', 'speculation.enabled = false');
  if (view.paused) return refuse('disabled', 'speculation is paused by an operator');
  if (view.draining) return refuse('draining', 'speculation is draining');
  if (isTripped(view.breaker, nowMs)) {
    const t = view.breaker.tripped;
    return refuse(
      'auto_disabled',
      `speculation switched itself off (circuit breaker, ${t.reason}): ${t.detail}; it re-arms at ${new Date(t.until).toISOString()}, or now with agenc speculation enable --force`,
    );
  }
  if (!isRolloutTarget(req, s.features) && !inRollout(req.taskId, s.features.rollout_percentage)) {
    return refuse(
      'not_in_rollout',
      `task is outside the ${s.features.rollout_percentage}% rollout (test traffic goes inside at any percentage with speculation.features.rollout_target_agents or rollout_target_task_prefixes)`,
    );
  }
  if (req.depth > s.max_depth)
    return refuse('depth_limit', `${req.depth} unconfirmed ancestors > max_depth ${s.max_depth}`);
  const adaptive = view.adaptive && adaptiveRefusal(view.config, view.adaptive, req);
  if (adaptive) return refuse(adaptive.reason, adaptive.detail);
  const cooldownUntil = view.cooldowns.get(req.agent) ?? 0;
  if (cooldownUntil > nowMs) {
    return refuse(
      'cooldown',
      `agent ${req.agent} was slashed; cooldown until ${new Date(cooldownUntil).toISOString()}`,
    );
  }
  const parents = [{ taskId: req.parentTaskId, agent: req.parentAgent }, ...(req.otherParents ?? [])];
  const crossAgent = parents.find((p) => p.agent !== req.agent);
  if (crossAgent && !s.features.enable_cross_agent_speculation) {
    return refuse(
      'disabled',
      `cross-agent speculation is disabled (speculation.features.enable_cross_agent_speculation); parent task ${crossAgent.taskId} is agent ${crossAgent.agent}'s`,
    );
  }
  const branchLimit = s.features.enable_parallel_speculation ? s.max_parallel_branches : 1;
  for (const parent of parents) {
    let siblings = 0;
    for (const a of view.active.values()) if (underParent(a, parent.taskId)) siblings += 1;
    if (siblings >= branchLimit) {
      return refuse(
        'branch_limit',
        `${siblings} speculative branches already run under ${parent.taskId} (limit ${branchLimit})`,
      );
    }
  }
  if (view.bytes !== undefined && view.bytes + speculationBytes(activeOf(req)) > STATE_BUDGET_BYTES) {
    return refuse(
      'memory_limit',
      `speculation-control's state is full (${view.bytes} of ${STATE_BUDGET_BYTES} bytes it carries across continue-as-new)`,
    );
  }
  if (view.active.size >= s.limits.max_state_snapshots) {
    return refuse(
      'memory_limit',
      `${view.active.size} speculative results held (max_state_snapshots ${s.limits.max_state_snapshots})`,
    );
  }
  if (req.workerMemoryMb > s.limits.max_memory_mb) {
    return refuse('memory_limit', `worker uses ${req.workerMemoryMb} MB (max_memory_mb ${s.limits.max_memory_mb})`);
  }
  return { allowed: true };
}

/**
 * The tasks one clean-up round asks about: every active speculation, and up to `batch` admissions
 * older than `graceMs` (a younger one may still be starting), taken round-robin after `cursor` so that
 * a leak is reached however many long-running tasks were admitted before it.
 */
export function cleanupCandidates(
  state: { active: ReadonlyMap<string, unknown>; open: ReadonlyMap<string, number> },
  opts: { nowMs: number; graceMs: number; cursor: string | undefined; batch: number },
): { taskIds: string[]; cursor: string | undefined } {
  const stale: string[] = [];
  for (const [taskId, reservedAt] of state.open) if (reservedAt <= opts.nowMs - opts.graceMs) stale.push(taskId);
  const start = opts.cursor === undefined ? 0 : stale.indexOf(opts.cursor) + 1;
  const admissions = [...stale.slice(start), ...stale.slice(0, start)].slice(0, opts.batch);
  const taskIds = [...new Set([...[...state.active.keys()].slice(0, opts.batch), ...admissions])];
  return { taskIds, cursor: admissions.length ? admissions[admissions.length - 1] : opts.cursor };
}

// ── Adaptive speculation ─────────────────────────────────────────────────────────────────────────────

/** The floor adaptive speculation never goes below: `adaptive.min_depth`, within max_depth. */
export function adaptiveFloor(config: SpeculationConfig): number {
  return Math.min(config.speculation.adaptive.min_depth, config.speculation.max_depth);
}

/** Adaptive speculation's state before any evidence: the operator's max_depth. */
export function initialAdaptive(config: SpeculationConfig): AdaptiveState {
  return { depth: config.speculation.max_depth, ended: 0, rolledBack: 0 };
}

/**
 * How an ended speculation counts as evidence, from the status its `speculationEnded` carries: a confirmed
 * task settles its speculation while still `committing` (past its point of no return), a rolled-back one
 * while `rolling_back`; `undefined` for a speculation that never ran to an outcome (no bond taken).
 */
export function speculationOutcome(status: string): 'confirmed' | 'rolled_back' | undefined {
  if (status === 'confirmed' || status === 'committing') return 'confirmed';
  if (status === 'rolled_back' || status === 'failed' || status === 'rolling_back') return 'rolled_back';
  return undefined;
}

/**
 * One more speculation ended: the seed design's rule, judged over every `min_samples` ended speculations
 * (a tumbling window, so each step rests on fresh evidence). A rollback rate over `rollback_rate_high`
 * lowers the depth by one, never below the floor; under `rollback_rate_low` raises it by one, never above
 * max_depth; in between the depth stays.
 */
export function adaptDepth(
  state: AdaptiveState,
  outcome: 'confirmed' | 'rolled_back',
  config: SpeculationConfig,
): AdaptiveState {
  const a = config.speculation.adaptive;
  const floor = adaptiveFloor(config);
  const depth = Math.max(floor, Math.min(config.speculation.max_depth, state.depth));
  const ended = state.ended + 1;
  const rolledBack = state.rolledBack + (outcome === 'rolled_back' ? 1 : 0);
  if (ended < a.min_samples) return { depth, ended, rolledBack };
  const rate = rolledBack / ended;
  if (rate > a.rollback_rate_high) return { depth: Math.max(floor, depth - 1), ended: 0, rolledBack: 0 };
  if (rate < a.rollback_rate_low)
    return { depth: Math.min(config.speculation.max_depth, depth + 1), ended: 0, rolledBack: 0 };
  return { depth, ended: 0, rolledBack: 0 };
}

/**
 * Adaptive speculation's answer to one request: a task no deeper than the floor is never refused here;
 * deeper, it is refused while the system is saturated (the proof backlog or the worker machine's load
 * over their limits: its proof would wait behind work closer to confirmation, holding stake for nothing),
 * or while it is deeper than the depth the recent rollback rate allows.
 */
export function adaptiveRefusal(
  config: SpeculationConfig,
  state: AdaptiveState | undefined,
  req: Pick<SpeculationRequest, 'depth' | 'proofBacklog' | 'loadPerCore'>,
): { reason: 'saturated' | 'adaptive_depth'; detail: string } | undefined {
  const a = config.speculation.adaptive;
  const floor = adaptiveFloor(config);
  if (!a.enabled || req.depth <= floor) return undefined;
  const waits = `a task deeper than speculation.adaptive.min_depth ${floor} waits for confirmation`;
  if (req.proofBacklog !== undefined && req.proofBacklog > a.max_proof_backlog) {
    return {
      reason: 'saturated',
      detail: `${req.proofBacklog} proofs wait in agenc-proofs (speculation.adaptive.max_proof_backlog ${a.max_proof_backlog}); ${waits}`,
    };
  }
  if (req.loadPerCore !== undefined && req.loadPerCore > a.max_load_per_core) {
    return {
      reason: 'saturated',
      detail: `load ${req.loadPerCore.toFixed(2)} per core (speculation.adaptive.max_load_per_core ${a.max_load_per_core}); ${waits}`,
    };
  }
  const depth = Math.max(floor, Math.min(config.speculation.max_depth, (state ?? initialAdaptive(config)).depth));
  if (req.depth > depth) {
    return {
      reason: 'adaptive_depth',
      detail: `${req.depth} unconfirmed ancestors > adaptive depth ${depth}: the rollback rate was over speculation.adaptive.rollback_rate_high ${a.rollback_rate_high} (max_depth ${config.speculation.max_depth}, floor ${floor})`,
    };
  }
  return undefined;
}

/** Does a configuration change restart adaptive speculation from max_depth (the operator changed its bounds or rules)? */
export function adaptiveReset(before: SpeculationConfig, after: SpeculationConfig): boolean {
  return (
    before.speculation.max_depth !== after.speculation.max_depth ||
    JSON.stringify(before.speculation.adaptive) !== JSON.stringify(after.speculation.adaptive)
  );
}
