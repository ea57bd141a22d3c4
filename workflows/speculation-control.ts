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
import { applyDottedChanges } from '../config/schema';
import { TASK_QUEUE } from '../shared/task-queues';
import { FAILURE_TYPES, type TaskActivities } from '../shared/activity-contract';
import {
  admitSpeculationsUpdate,
  admitTasksUpdate,
  agentSlashedSignal,
  controlSnapshotQuery,
  controlStatusQuery,
  drainSignal,
  forceRollbackAllLegacySignal,
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
  enableSpeculationUpdate,
} from '../shared/messages';
import { TASK_ID_PATTERN, taskWorkflowId } from '../shared/task-model';
import { activeOf, admissionRefusal, cleanupCandidates, decideSpeculation } from './control-decisions';
import { enabledByOperator, taskClosed, workerSample } from './breaker-decisions';
import {
  applyConfig,
  type ControlInput,
  type ControlState,
  forget,
  parsedConfig,
  rejected,
  restore,
  setActive,
  speculationEnded,
  updateBreaker,
  setOpen,
  snapshot,
  status,
} from './control-state';

export type { ActiveSpeculation } from './control-decisions';
export type { ControlInput } from './control-state';

/** Tasks one clean-up round asks about at most: bounds the activity and the history it adds. */
const CLEANUP_BATCH = 200;

const { findClosedTasks } = proxyActivities<TaskActivities>({
  // On agenc-tasks, where the activities are, whichever queue this workflow runs on (agenc-control).
  taskQueue: TASK_QUEUE,
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  summary: 'clean-up: which admitted or speculating tasks have no running workflow',
});

/** A signal's argument as an object, or undefined: a malformed message is dropped with a warning, never thrown (that would fail the workflow task). */
function messageFields<K extends string>(
  signal: string,
  message: unknown,
  fields: readonly K[],
): Record<K, string> | undefined {
  const m = message as Record<string, unknown> | null | undefined;
  if (m && typeof m === 'object' && fields.every((f) => typeof m[f] === 'string')) return m as Record<K, string>;
  log.warn('malformed signal dropped', { signal, expected: fields, got: JSON.stringify(message)?.slice(0, 200) });
  return undefined;
}

/** The configuration Updates: validated by the schema before they enter history. */
function handleConfiguration(state: ControlState): void {
  setHandler(
    setConfigUpdate,
    (changes) => {
      const merged = applyDottedChanges(state.raw, changes);
      if (!merged.ok) throw new Error('unreachable: validator accepted unknown keys');
      applyConfig(state, merged.raw);
      // An operator who switches speculation on means it: a drain left behind no longer holds it off.
      if (changes['speculation.enabled'] === true && state.draining && patched('enable-ends-drain')) {
        state.draining = false;
        log.info('speculation.enabled = true set while draining: the drain is over');
      }
      return status(state);
    },
    {
      description:
        'Change configuration keys given as dotted paths ({"speculation.enabled": true}); validated by the config schema.',
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
      applyConfig(state, next);
      return status(state);
    },
    {
      description:
        'Replace the whole configuration (the TOML file re-read by /admin/config/reload); validated by the config schema.',
      validator: (next) => void parsedConfig(next),
    },
  );
}

/** Admissions: a slot per submission, then speculation verdicts; a closed task frees its slot. */
function handleAdmissions(state: ControlState): void {
  const admit = (taskId: string): TaskAdmission => {
    // Checked here for each id: the validator of a concurrent admission may have passed on the same count.
    const refusal = admissionRefusal(state.open, taskId, state.config, state.bytes);
    if (refusal) return { admitted: false, message: refusal };
    const reserved = !state.open.has(taskId);
    if (reserved) setOpen(state, taskId, Date.now());
    return { admitted: true, reserved };
  };
  setHandler(admitTasksUpdate, ({ taskIds }) => taskIds.map(admit), {
    description:
      'Submissions take max_pending_operations slots before their workflows start, in order; a slot is freed when its task is final.',
    validator: (req) => {
      const ids: unknown = req?.taskIds;
      if (
        !Array.isArray(ids) ||
        !ids.length ||
        ids.length > MAX_ADMISSION_BATCH ||
        !ids.every((id) => typeof id === 'string' && TASK_ID_PATTERN.test(id))
      ) {
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
      if (!m) return;
      forget(state, m.taskId);
      const closed = (message as { status?: unknown }).status;
      if (typeof closed === 'string' && patched('speculation-breaker'))
        updateBreaker(state, (b, now) => taskClosed(b, closed, state.config, now));
    },
    { description: 'A task is final, or its workflow never started: its admission slot is free.' },
  );

  setHandler(
    admitSpeculationsUpdate,
    ({ requests }) => {
      // Histories from before adaptive speculation and the breaker replay the verdicts they were given.
      const breaker = patched('speculation-breaker');
      const view = patched('adaptive-speculation') ? state : { ...state, adaptive: undefined };
      const verdicts = requests.map((req) => {
        if (breaker) updateBreaker(state, (b, now) => workerSample(b, req, state.config, now));
        const verdict = decideSpeculation({ ...view, breaker: breaker ? state.breaker : undefined }, req, Date.now());
        if (verdict.allowed && !state.active.has(req.taskId)) {
          setActive(state, req.taskId, activeOf(req));
        }
        return verdict;
      });
      return { config: state.config, verdicts };
    },
    {
      description:
        'Tasks ask to speculate: every limit is checked at once for each, in order, and a task is counted as active when allowed.',
      validator: (batch) => {
        const requests: unknown = batch?.requests;
        if (!Array.isArray(requests) || !requests.length || requests.length > MAX_SPECULATION_BATCH) {
          throw new Error(
            `admitSpeculations needs {requests}: 1 to ${MAX_SPECULATION_BATCH} requests, got ${JSON.stringify(batch)?.slice(0, 200)}`,
          );
        }
        const problems = requests.flatMap((req, i) =>
          speculationRequestProblems(req).map((p) => `requests[${i}]: ${p}`),
        );
        if (problems.length) throw new Error(`admitSpeculations request rejected: ${problems.join('; ')}`);
      },
    },
  );
}

/** What tasks tell it: a speculation ended, an agent slashed. */
function handleTaskNews(state: ControlState): void {
  setHandler(
    speculationEndedSignal,
    (message) => {
      const m = messageFields('speculationEnded', message, ['taskId']);
      if (!m) return;
      const outcome = (message as { outcome?: unknown }).outcome;
      speculationEnded(state, m.taskId, typeof outcome === 'string' ? outcome : '');
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
}

/** The operator's signals: drain, pause, resume, roll every speculation back. */
function handleOperators(state: ControlState): void {
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
    enableSpeculationUpdate,
    ({ reason }) => {
      log.warn('speculation re-enabled by an operator (circuit breaker re-armed)', {
        reason,
        was: state.breaker.tripped ?? null,
      });
      state.breaker = enabledByOperator();
      return status(state);
    },
    {
      description:
        'An operator re-enables speculation after the circuit breaker switched it off; the reason is logged.',
      validator: (req) => {
        if (typeof req?.reason !== 'string' || !req.reason.trim())
          throw new Error(
            `enableSpeculation needs {reason}: a non-empty string, got ${JSON.stringify(req)?.slice(0, 200)}`,
          );
      },
    },
  );
  setHandler(
    resumeSignal,
    () => {
      state.paused = false;
      state.draining = false;
    },
    { description: 'Clear pause and drain.' },
  );
  const forceRollbackAll = async () => {
    const targets = [...state.active.keys()].filter((id) => !state.pendingRollbacks.has(id));
    for (const id of targets) state.pendingRollbacks.add(id);
    log.warn('force rollback of every active speculative task', { count: targets.length });
    await Promise.all(
      targets.map(async (id) => {
        try {
          await getExternalWorkflowHandle(taskWorkflowId(id)).signal(forceRollbackSignal, {
            reason: 'force-rollback by operator',
          });
        } catch {
          // the task already finished: its speculationEnded signal frees the slot
          forget(state, id);
        }
      }),
    );
  };
  setHandler(forceRollbackAllSignal, forceRollbackAll, {
    description: 'Every active speculative task rolls back through its compensations.',
  });
  setHandler(forceRollbackAllLegacySignal, forceRollbackAll, {
    description: 'The former name of forceRollbackAll, still heeded.',
  });
}

/** The status an operator reads and the snapshot a closed run is restored from. */
function handleQueries(state: ControlState): void {
  setHandler(controlSnapshotQuery, () => snapshot(state), {
    description: 'The whole state as it crosses continue-as-new: what a closed run is restored from.',
  });
  setHandler(controlStatusQuery, () => status(state), {
    description: 'Live configuration, admitted and active speculative tasks, pending rollbacks, drain/pause state.',
  });
}

/**
 * Every `limits.gc_interval_ms`: expired cooldowns go, and admissions and speculations of tasks whose
 * workflow is not running (terminated by an operator, or a submitter that died between admission and
 * start) are freed. A task frees its own slots when it ends; this catches those that could not.
 */
async function cleanUp(state: ControlState): Promise<void> {
  const now = Date.now();
  for (const [agent, until] of state.cooldowns) if (until <= now) state.cooldowns.delete(agent);
  const intervalMs = state.config.speculation.limits.gc_interval_ms;
  const { taskIds, cursor } = cleanupCandidates(state, {
    nowMs: now,
    graceMs: 2 * intervalMs,
    cursor: state.cleanupCursor,
    batch: CLEANUP_BATCH,
  });
  state.cleanupCursor = cursor;
  if (!taskIds.length) return;
  let closed: string[];
  try {
    closed = await findClosedTasks(taskIds);
  } catch (err) {
    // A clean-up that fails (the visibility store briefly down) is tried again next round; it must never
    // fail this workflow, which holds the live state every task depends on.
    log.warn('clean-up could not ask which tasks closed; trying again next round', {
      error: String(err),
      tasks: taskIds.length,
    });
    return;
  }
  for (const taskId of closed) forget(state, taskId);
  if (closed.length)
    log.warn('clean-up freed the slots of tasks that ended without saying so', {
      tasks: closed.slice(0, 20),
      count: closed.length,
    });
}

/**
 * A tripped circuit breaker re-arms when its cooldown ends, on a timer: without one it re-armed only at the
 * next message, so on an idle system the status, `speculation_auto_disabled` and its P1 alert went on
 * saying "off" past the cooldown. An operator's re-enable, or a new trip, replaces the trip waited for.
 */
async function rearmAtCooldown(state: ControlState): Promise<void> {
  for (;;) {
    await condition(() => Boolean(state.breaker.tripped));
    const until = state.breaker.tripped!.until;
    const cooled = !(await condition(() => state.breaker.tripped?.until !== until, Math.max(1, until - Date.now())));
    if (cooled) updateBreaker(state, (b) => b);
  }
}

export async function speculationControl(input: ControlInput): Promise<void> {
  const state = restore(input);
  // Registered in this order so that messages delivered with the start are handled as they always were.
  handleConfiguration(state);
  handleAdmissions(state);
  handleTaskNews(state);
  handleOperators(state);
  handleQueries(state);
  if (patched('breaker-rearm-timer')) void rearmAtCooldown(state);
  const continueAsNewSuggested = () => workflowInfo().continueAsNewSuggested;
  // Runs started before the clean-up existed replay without its timers; they clean up from their next run on.
  if (patched('periodic-cleanup')) {
    const idle = () => !state.open.size && !state.active.size && !state.cooldowns.size;
    while (!continueAsNewSuggested()) {
      // No timers while there is nothing to clean: an idle system adds nothing to this history.
      await condition(() => continueAsNewSuggested() || !idle());
      if (continueAsNewSuggested()) break;
      if (!(await condition(continueAsNewSuggested, state.config.speculation.limits.gc_interval_ms)))
        await cleanUp(state);
    }
  } else {
    await condition(continueAsNewSuggested);
  }
  await condition(allHandlersFinished);
  const now = Date.now();
  for (const [agent, until] of state.cooldowns) if (until <= now) state.cooldowns.delete(agent);
  await continueAsNew<typeof speculationControl>(snapshot(state));
}
