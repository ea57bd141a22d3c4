/**
 * The state of `speculation-control` and what changes it: restored at start (from the file's
 * configuration, or the snapshot a run continued as new with), kept byte-counted as admissions and
 * speculations come and go, and shown as the `status` and `snapshot` queries.
 */
import { log } from '@temporalio/workflow';
import { type ConfigProblem, coerceConfig, formatProblem, parseConfig, type SpeculationConfig } from '../config/schema';
import type { AdaptiveState, ControlSnapshot, ControlStatus } from '../shared/messages';
import { type BreakerState, initialBreaker, isTripped, rearmed } from './breaker-decisions';
import {
  type ActiveSpeculation,
  adaptDepth,
  adaptiveReset,
  admissionBytes,
  initialAdaptive,
  speculationBytes,
  speculationOutcome,
  stateBytes,
} from './control-decisions';

/** The state as it crosses continue-as-new, as a closed run is restored, and as the very first run starts (only `rawConfig`). */
export type ControlInput = ControlSnapshot;

export interface ControlState {
  raw: Record<string, unknown>;
  config: SpeculationConfig;
  configVersion: number;
  updatedAt: string;
  active: Map<string, ActiveSpeculation>;
  open: Map<string, number>;
  cooldowns: Map<string, number>;
  pendingRollbacks: Set<string>;
  draining: boolean;
  paused: boolean;
  /** The last admission one clean-up round asked about; the next round goes on after it. */
  cleanupCursor?: string;
  /** Keys of the stored configuration this build's schema refuses (they fell back to their defaults). */
  configProblems: string[];
  /** What `open` and `active` take in the continue-as-new input, kept as they change (stateBytes). */
  bytes: number;
  /** Adaptive speculation: the depth in force and the evidence since it last changed. */
  adaptive: AdaptiveState;
  /** The circuit breaker: tripped or armed, and its evidence. */
  breaker: BreakerState;
}

/**
 * A configuration this workflow already holds, loaded under this build's schema: at start, across
 * continue-as-new, and in the configuration Updates' handlers (which also run on replay, where the schema
 * may have narrowed since the Update was accepted). Never throws: a key the schema now refuses falls back
 * to its default and is reported, so a deploy cannot wedge the workflow that holds the live state.
 */
export function loadedConfig(raw: Record<string, unknown>): {
  raw: Record<string, unknown>;
  config: SpeculationConfig;
  problems: string[];
} {
  const loaded = coerceConfig(raw);
  const problems = loaded.dropped.map(formatProblem);
  if (problems.length)
    log.warn('stored configuration keys refused by this build fell back to their defaults', { problems });
  return { raw: loaded.raw, config: loaded.config, problems };
}

/** A new configuration, checked in the Updates' validators: throwing there rejects it before it enters history. */
export function parsedConfig(raw: Record<string, unknown>): SpeculationConfig {
  const result = parseConfig(raw);
  if (!result.ok) throw rejected(result.problems);
  return result.config;
}

/** Every problem, key by key, in the words the Update's caller sees. */
export function rejected(problems: ConfigProblem[]): Error {
  return new Error(`configuration rejected: ${problems.map(formatProblem).join('; ')}`);
}

export function restore(input: ControlInput): ControlState {
  const loaded = loadedConfig(input.rawConfig);
  const state: ControlState = {
    bytes: 0,
    raw: loaded.raw,
    config: loaded.config,
    configProblems: loaded.problems,
    configVersion: input.configVersion ?? 1,
    updatedAt: new Date().toISOString(),
    active: new Map((input.active ?? []).map((a) => [a.taskId, a])),
    open: new Map(Object.entries(input.open ?? {})),
    cooldowns: new Map(Object.entries(input.cooldowns ?? {})),
    pendingRollbacks: new Set(input.pendingRollbacks ?? []),
    draining: input.draining ?? false,
    paused: input.paused ?? false,
    cleanupCursor: input.cleanupCursor,
    adaptive: input.adaptive ?? initialAdaptive(loaded.config),
    breaker: input.breaker ?? initialBreaker(),
  };
  state.bytes = stateBytes(state);
  return state;
}

/** Adds or removes an admission, keeping `bytes` in step. */
export function setOpen(state: ControlState, taskId: string, at: number | undefined): void {
  const had = state.open.has(taskId);
  if (at === undefined) {
    if (had) state.bytes -= admissionBytes(taskId);
    state.open.delete(taskId);
  } else {
    if (!had) state.bytes += admissionBytes(taskId);
    state.open.set(taskId, at);
  }
}

/** Adds or removes an active speculation, keeping `bytes` in step. */
export function setActive(state: ControlState, taskId: string, speculation: ActiveSpeculation | undefined): void {
  const had = state.active.get(taskId);
  if (had) state.bytes -= speculationBytes(had);
  if (speculation) {
    state.bytes += speculationBytes(speculation);
    state.active.set(taskId, speculation);
  } else {
    state.active.delete(taskId);
  }
}

export function snapshot(state: ControlState): ControlInput {
  return {
    rawConfig: state.raw,
    active: [...state.active.values()],
    open: Object.fromEntries(state.open),
    cooldowns: Object.fromEntries(state.cooldowns),
    pendingRollbacks: [...state.pendingRollbacks],
    draining: state.draining,
    paused: state.paused,
    configVersion: state.configVersion,
    cleanupCursor: state.cleanupCursor,
    adaptive: state.adaptive,
    breaker: state.breaker,
  };
}

export function status(state: ControlState): ControlStatus {
  const now = Date.now();
  return {
    enabled: state.config.speculation.enabled,
    paused: state.paused,
    draining: state.draining,
    rollout_percentage: state.config.speculation.features.rollout_percentage,
    active_tasks: state.active.size,
    open_tasks: state.open.size,
    pending_rollbacks: state.pendingRollbacks.size,
    active: [...state.active.values()],
    cooldowns: Object.fromEntries(
      [...state.cooldowns]
        .filter(([, until]) => until > now)
        .map(([agent, until]) => [agent, new Date(until).toISOString()]),
    ),
    config: state.config,
    config_version: state.configVersion,
    updated_at: state.updatedAt,
    config_problems: state.configProblems,
    adaptive: {
      ...state.adaptive,
      enabled: state.config.speculation.adaptive.enabled,
      rollback_rate: state.adaptive.ended ? state.adaptive.rolledBack / state.adaptive.ended : null,
    },
    auto_disabled: isTripped(state.breaker, now)
      ? {
          reason: state.breaker.tripped.reason,
          detail: state.breaker.tripped.detail,
          at: new Date(state.breaker.tripped.at).toISOString(),
          until: new Date(state.breaker.tripped.until).toISOString(),
        }
      : null,
  };
}

/**
 * The circuit breaker takes in what happened (a task closed, a worker's sample with a speculation
 * request), re-arming first when its cooldown has passed; each change of state is logged, saying why.
 */
export function updateBreaker(state: ControlState, next: (b: BreakerState, nowMs: number) => BreakerState): void {
  const now = Date.now();
  const before = state.breaker;
  const current = rearmed(before, now);
  if (current !== before) log.info('circuit breaker re-armed: speculation may start again', { was: before.tripped });
  state.breaker = next(current, now);
  const t = state.breaker.tripped;
  if (t && t !== current.tripped)
    log.warn(`speculation switched itself off (circuit breaker, ${t.reason}): ${t.detail}`, {
      reason: t.reason,
      until: new Date(t.until).toISOString(),
    });
}

/** A speculation ended (its `speculationEnded` signal, first time): adaptive speculation counts its outcome. */
export function speculationEnded(state: ControlState, taskId: string, status: string): void {
  if (!state.active.has(taskId)) return;
  setActive(state, taskId, undefined);
  const outcome = speculationOutcome(status);
  if (!outcome) return;
  const before = state.adaptive.depth;
  state.adaptive = adaptDepth(state.adaptive, outcome, state.config);
  if (state.adaptive.depth !== before)
    log.info('adaptive speculation changed the depth', { from: before, to: state.adaptive.depth });
}

/** A configuration accepted by an Update's validator becomes the live one. */
export function applyConfig(state: ControlState, nextRaw: Record<string, unknown>): void {
  const next = loadedConfig(nextRaw);
  if (adaptiveReset(state.config, next.config)) state.adaptive = initialAdaptive(next.config);
  state.raw = next.raw;
  state.config = next.config;
  state.configProblems = next.problems;
  state.configVersion += 1;
  state.updatedAt = new Date().toISOString();
  log.info('configuration changed', {
    version: state.configVersion,
    enabled: next.config.speculation.enabled,
    rollout_percentage: next.config.speculation.features.rollout_percentage,
  });
}

/** Frees everything a task held here; idempotent (a task may be freed by its own signal and by a clean-up). */
export function forget(state: ControlState, taskId: string): void {
  setOpen(state, taskId, undefined);
  setActive(state, taskId, undefined);
  state.pendingRollbacks.delete(taskId);
}
