/**
 * `speculationControl`: the singleton (`speculation-control`) holding the live configuration, the
 * admitted tasks and the active speculative tasks. Every admission and every speculation decision is
 * one Update here, so the limits that span tasks (`max_pending_operations`, branches per parent,
 * snapshots system-wide, agent cooldowns, drain) are checked against one consistent state on any
 * number of workers. The decisions themselves are pure functions (control-decisions.ts); this file
 * holds the state and the handlers that apply them.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { applyDottedChanges, type ConfigProblem, coerceConfig, formatProblem, parseConfig, type SpeculationConfig } from '../config/schema';
import { FAILURE_TYPES, type TaskActivities } from '../shared/activity-contract';
import {
  admitSpeculationsUpdate,
  admitTasksUpdate,
  agentSlashedSignal,
  type ControlStatus,
  type ControlSnapshot,
  controlSnapshotQuery,
  controlStatusQuery,
  drainSignal,
  forceRollbackAllSignal,
  forceRollbackSignal,
  MAX_ADMISSION_BATCH,
  MAX_SPECULATION_BATCH,
  pauseSignal,
  replaceConfigUpdate,
  resumeSignal,
  setConfigUpdate,
  speculationEndedSignal,
  speculationRequestProblems,
  type TaskAdmission,
  taskClosedSignal,
} from '../shared/messages';
import { TASK_ID_PATTERN, taskWorkflowId } from '../shared/task-model';
import {
  type ActiveSpeculation,
  admissionBytes,
  admissionRefusal,
  cleanupCandidates,
  decideSpeculation,
  speculationBytes,
  stateBytes,
} from './control-decisions';

export type { ActiveSpeculation } from './control-decisions';

/** The state as it crosses continue-as-new, as a closed run is restored, and as the very first run starts (only `rawConfig`). */
export type ControlInput = ControlSnapshot;

interface ControlState {
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
}

/** Tasks one clean-up round asks about at most: bounds the activity and the history it adds. */
const CLEANUP_BATCH = 200;

const { findClosedTasks } = proxyActivities<TaskActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  summary: 'clean-up: which admitted or speculating tasks have no running workflow',
});

/**
 * A configuration this workflow already holds, loaded under this build's schema: at start, across
 * continue-as-new, and in the configuration Updates' handlers (which also run on replay, where the schema
 * may have narrowed since the Update was accepted). Never throws: a key the schema now refuses falls back
 * to its default and is reported, so a deploy cannot wedge the workflow that holds the live state.
 */
function loadedConfig(raw: Record<string, unknown>): { raw: Record<string, unknown>; config: SpeculationConfig; problems: string[] } {
  const loaded = coerceConfig(raw);
  const problems = loaded.dropped.map(formatProblem);
  if (problems.length) log.warn('stored configuration keys refused by this build fell back to their defaults', { problems });
  return { raw: loaded.raw, config: loaded.config, problems };
}

/** A new configuration, checked in the Updates' validators: throwing there rejects it before it enters history. */
function parsedConfig(raw: Record<string, unknown>): SpeculationConfig {
  const result = parseConfig(raw);
  if (!result.ok) throw rejected(result.problems);
  return result.config;
}

/** Every problem, key by key, in the words the Update's caller sees. */
function rejected(problems: ConfigProblem[]): Error {
  return new Error(`configuration rejected: ${problems.map(formatProblem).join('; ')}`);
}

function restore(input: ControlInput): ControlState {
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
  };
  state.bytes = stateBytes(state);
  return state;
}

/** Adds or removes an admission, keeping `bytes` in step. */
function setOpen(state: ControlState, taskId: string, at: number | undefined): void {
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
function setActive(state: ControlState, taskId: string, speculation: ActiveSpeculation | undefined): void {
  const had = state.active.get(taskId);
  if (had) state.bytes -= speculationBytes(had);
  if (speculation) {
    state.bytes += speculationBytes(speculation);
    state.active.set(taskId, speculation);
  } else {
    state.active.delete(taskId);
  }
}

function snapshot(state: ControlState): ControlInput {
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
  };
}

function status(state: ControlState): ControlStatus {
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
    cooldowns: Object.fromEntries([...state.cooldowns].filter(([, until]) => until > now).map(([agent, until]) => [agent, new Date(until).toISOString()])),
    config: state.config,
    config_version: state.configVersion,
    updated_at: state.updatedAt,
    config_problems: state.configProblems,
  };
}

/** A signal's argument as an object, or undefined: a malformed message is dropped with a warning, never thrown (that would fail the workflow task). */
function messageFields<K extends string>(signal: string, message: unknown, fields: readonly K[]): Record<K, string> | undefined {
  const m = message as Record<string, unknown> | null | undefined;
  if (m && typeof m === 'object' && fields.every((f) => typeof m[f] === 'string')) return m as Record<K, string>;
  log.warn('malformed signal dropped', { signal, expected: fields, got: JSON.stringify(message)?.slice(0, 200) });
  return undefined;
}

export async function speculationControl(input: ControlInput): Promise<void> {
  const state = restore(input);

  const applyConfig = (nextRaw: Record<string, unknown>) => {
    const next = loadedConfig(nextRaw);
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
  };

  /** Frees everything a task held here; idempotent (a task may be freed by its own signal and by a clean-up). */
  const forget = (taskId: string) => {
    setOpen(state, taskId, undefined);
    setActive(state, taskId, undefined);
    state.pendingRollbacks.delete(taskId);
  };

  setHandler(
    setConfigUpdate,
    (changes) => {
      const merged = applyDottedChanges(state.raw, changes);
      if (!merged.ok) throw new Error('unreachable: validator accepted unknown keys');
      applyConfig(merged.raw);
      return status(state);
    },
    {
      description: 'Change configuration keys given as dotted paths ({"speculation.enabled": true}); validated by the config schema.',
      validator: (changes) => {
        if (changes === null || typeof changes !== 'object' || Array.isArray(changes) || !Object.keys(changes).length) {
          throw new Error('expected a JSON object of dotted keys, for example {"speculation.enabled": true}');
        }
        const merged = applyDottedChanges(state.raw, changes);
        if (!merged.ok) throw rejected(merged.problems);
        parsedConfig(merged.raw);
      },
    },
  );

  setHandler(
    replaceConfigUpdate,
    (next) => {
      applyConfig(next);
      return status(state);
    },
    {
      description: 'Replace the whole configuration (the TOML file re-read by /admin/config/reload); validated by the config schema.',
      validator: (next) => void parsedConfig(next),
    },
  );

  const admit = (taskId: string): TaskAdmission => {
    // Checked here for each id: the validator of a concurrent admission may have passed on the same count.
    const refusal = admissionRefusal(state.open, taskId, state.config, state.bytes);
    if (refusal) return { admitted: false, message: refusal };
    const reserved = !state.open.has(taskId);
    if (reserved) setOpen(state, taskId, Date.now());
    return { admitted: true, reserved };
  };
  setHandler(admitTasksUpdate, ({ taskIds }) => taskIds.map(admit), {
    description: 'Submissions take max_pending_operations slots before their workflows start, in order; a slot is freed when its task is final.',
    validator: (req) => {
      const ids: unknown = req?.taskIds;
      if (!Array.isArray(ids) || !ids.length || ids.length > MAX_ADMISSION_BATCH || !ids.every((id) => typeof id === 'string' && TASK_ID_PATTERN.test(id))) {
        throw new Error(
          `admitTasks needs {taskIds}: 1 to ${MAX_ADMISSION_BATCH} task ids matching ${TASK_ID_PATTERN}, got ${JSON.stringify(req)?.slice(0, 200)}`,
        );
      }
      // A batch of which nothing can be admitted is refused here and never enters the history, so a
      // burst of refused submissions costs it nothing.
      const refusals = (ids as string[]).map((id) => admissionRefusal(state.open, id, state.config, state.bytes));
      if (refusals.every(Boolean)) throw ApplicationFailure.nonRetryable(refusals[0]!, FAILURE_TYPES.tooManyPending);
    },
  });
  setHandler(
    taskClosedSignal,
    (message) => {
      const m = messageFields('taskClosed', message, ['taskId']);
      if (m) forget(m.taskId);
    },
    { description: 'A task is final, or its workflow never started: its admission slot is free.' },
  );

  setHandler(
    admitSpeculationsUpdate,
    ({ requests }) => {
      const verdicts = requests.map((req) => {
        const verdict = decideSpeculation(state, req, Date.now());
        if (verdict.allowed && !state.active.has(req.taskId)) {
          setActive(state, req.taskId, { taskId: req.taskId, parentTaskId: req.parentTaskId, agent: req.agent, depth: req.depth });
        }
        return verdict;
      });
      return { config: state.config, verdicts };
    },
    {
      description: 'Tasks ask to speculate: every limit is checked at once for each, in order, and a task is counted as active when allowed.',
      validator: (batch) => {
        const requests: unknown = batch?.requests;
        if (!Array.isArray(requests) || !requests.length || requests.length > MAX_SPECULATION_BATCH) {
          throw new Error(`admitSpeculations needs {requests}: 1 to ${MAX_SPECULATION_BATCH} requests, got ${JSON.stringify(batch)?.slice(0, 200)}`);
        }
        const problems = requests.flatMap((req, i) => speculationRequestProblems(req).map((p) => `requests[${i}]: ${p}`));
        if (problems.length) throw new Error(`admitSpeculations request rejected: ${problems.join('; ')}`);
      },
    },
  );

  setHandler(
    speculationEndedSignal,
    (message) => {
      const m = messageFields('speculationEnded', message, ['taskId']);
      if (!m) return;
      setActive(state, m.taskId, undefined);
      state.pendingRollbacks.delete(m.taskId);
    },
    { description: 'A speculative task reached a final state: its slot is free.' },
  );
  setHandler(
    agentSlashedSignal,
    (message) => {
      const m = messageFields('agentSlashed', message, ['agent']);
      if (m) state.cooldowns.set(m.agent, Date.now() + state.config.speculation.stake.cooldown_period_ms);
    },
    { description: "An agent's bond was slashed: it may not speculate for cooldown_period_ms." },
  );
  setHandler(
    drainSignal,
    () => {
      state.draining = true;
    },
    { description: 'No new speculation; active speculative tasks finish.' },
  );
  setHandler(
    pauseSignal,
    () => {
      state.paused = true;
    },
    { description: 'No new speculation until resume.' },
  );
  setHandler(
    resumeSignal,
    () => {
      state.paused = false;
      state.draining = false;
    },
    { description: 'Clear pause and drain.' },
  );
  setHandler(
    forceRollbackAllSignal,
    async () => {
      const targets = [...state.active.keys()].filter((id) => !state.pendingRollbacks.has(id));
      for (const id of targets) state.pendingRollbacks.add(id);
      log.warn('force rollback of every active speculative task', { count: targets.length });
      await Promise.all(
        targets.map(async (id) => {
          try {
            await getExternalWorkflowHandle(taskWorkflowId(id)).signal(forceRollbackSignal, { reason: 'force-rollback by operator' });
          } catch {
            // the task already finished: its speculationEnded signal frees the slot
            forget(id);
          }
        }),
      );
    },
    { description: 'Every active speculative task rolls back through its compensations.' },
  );
  setHandler(controlSnapshotQuery, () => snapshot(state), {
    description: 'The whole state as it crosses continue-as-new: what a closed run is restored from.',
  });
  setHandler(controlStatusQuery, () => status(state), {
    description: 'Live configuration, admitted and active speculative tasks, pending rollbacks, drain/pause state.',
  });

  /**
   * Every `limits.gc_interval_ms`: expired cooldowns go, and admissions and speculations of tasks whose
   * workflow is not running (terminated by an operator, or a submitter that died between admission and
   * start) are freed. A task frees its own slots when it ends; this catches those that could not.
   */
  const cleanUp = async () => {
    const now = Date.now();
    for (const [agent, until] of state.cooldowns) if (until <= now) state.cooldowns.delete(agent);
    const intervalMs = state.config.speculation.limits.gc_interval_ms;
    const { taskIds, cursor } = cleanupCandidates(state, { nowMs: now, graceMs: 2 * intervalMs, cursor: state.cleanupCursor, batch: CLEANUP_BATCH });
    state.cleanupCursor = cursor;
    if (!taskIds.length) return;
    let closed: string[];
    try {
      closed = await findClosedTasks(taskIds);
    } catch (err) {
      // A clean-up that fails (the visibility store briefly down) is tried again next round; it must never
      // fail this workflow, which holds the live state every task depends on.
      log.warn('clean-up could not ask which tasks closed; trying again next round', { error: String(err), tasks: taskIds.length });
      return;
    }
    for (const taskId of closed) forget(taskId);
    if (closed.length) log.warn('clean-up freed the slots of tasks that ended without saying so', { tasks: closed.slice(0, 20), count: closed.length });
  };

  const continueAsNewSuggested = () => workflowInfo().continueAsNewSuggested;
  // Runs started before the clean-up existed replay without its timers; they clean up from their next run on.
  if (patched('periodic-cleanup')) {
    const idle = () => !state.open.size && !state.active.size && !state.cooldowns.size;
    while (!continueAsNewSuggested()) {
      // No timers while there is nothing to clean: an idle system adds nothing to this history.
      await condition(() => continueAsNewSuggested() || !idle());
      if (continueAsNewSuggested()) break;
      if (!(await condition(continueAsNewSuggested, state.config.speculation.limits.gc_interval_ms))) await cleanUp();
    }
  } else {
    await condition(continueAsNewSuggested);
  }
  await condition(allHandlersFinished);
  const now = Date.now();
  for (const [agent, until] of state.cooldowns) if (until <= now) state.cooldowns.delete(agent);
  await continueAsNew<typeof speculationControl>(snapshot(state));
}
