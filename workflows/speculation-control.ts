/**
 * `speculationControl`: the singleton (`speculation-control`) holding the live configuration and the
 * set of active speculative tasks. Every speculation decision is one Update here, so the limits that
 * span tasks (branches per parent, snapshots system-wide, agent cooldowns, drain) are checked
 * against one consistent state on any number of workers.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { applyDottedChanges, ConfigError, formatProblem, parseConfig, type SpeculationConfig } from '../config/schema';
import {
  admitSpeculationUpdate,
  agentSlashedSignal,
  type ControlStatus,
  controlStatusQuery,
  drainSignal,
  forceRollbackAllSignal,
  forceRollbackSignal,
  pauseSignal,
  replaceConfigUpdate,
  resumeSignal,
  setConfigUpdate,
  type SpeculationDecision,
  type SpeculationRequest,
  speculationEndedSignal,
  speculationRequestProblems,
} from '../shared/messages';
import { inRollout } from '../shared/rollout-bucket';
import { taskWorkflowId } from '../shared/task-model';

export interface ActiveSpeculation {
  taskId: string;
  parentTaskId: string;
  agent: string;
  depth: number;
}

export interface ControlInput {
  /** The configuration as written (file + environment), before presets: a later mode change still brings its preset. */
  rawConfig: Record<string, unknown>;
  active?: ActiveSpeculation[];
  /** Agent → epoch ms until which it may not speculate. */
  cooldowns?: Record<string, number>;
  pendingRollbacks?: string[];
  draining?: boolean;
  paused?: boolean;
  configVersion?: number;
}

function resolve(raw: Record<string, unknown>): SpeculationConfig {
  const result = parseConfig(raw);
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config;
}

/** Throws (rejecting the update before it enters history) with every problem, key by key. */
function validated(raw: Record<string, unknown>): SpeculationConfig {
  const result = parseConfig(raw);
  if (!result.ok) throw new Error(`configuration rejected: ${result.problems.map(formatProblem).join('; ')}`);
  return result.config;
}

export async function speculationControl(input: ControlInput): Promise<void> {
  let raw = input.rawConfig;
  let config = resolve(raw);
  let configVersion = input.configVersion ?? 1;
  let updatedAt = new Date().toISOString();
  const active = new Map((input.active ?? []).map((a) => [a.taskId, a]));
  const cooldowns = new Map(Object.entries(input.cooldowns ?? {}));
  const pendingRollbacks = new Set(input.pendingRollbacks ?? []);
  let draining = input.draining ?? false;
  let paused = input.paused ?? false;

  const status = (): ControlStatus => {
    const now = Date.now();
    return {
      enabled: config.speculation.enabled,
      paused,
      draining,
      rollout_percentage: config.speculation.features.rollout_percentage,
      active_tasks: active.size,
      pending_rollbacks: pendingRollbacks.size,
      active: [...active.values()],
      cooldowns: Object.fromEntries(
        [...cooldowns].filter(([, until]) => until > now).map(([agent, until]) => [agent, new Date(until).toISOString()]),
      ),
      config,
      config_version: configVersion,
      updated_at: updatedAt,
    };
  };

  const applyConfig = (nextRaw: Record<string, unknown>, next: SpeculationConfig) => {
    raw = nextRaw;
    config = next;
    configVersion += 1;
    updatedAt = new Date().toISOString();
    log.info('configuration changed', {
      version: configVersion,
      enabled: config.speculation.enabled,
      rollout_percentage: config.speculation.features.rollout_percentage,
    });
  };

  setHandler(
    setConfigUpdate,
    (changes) => {
      const merged = applyDottedChanges(raw, changes);
      if (!merged.ok) throw new Error('unreachable: validator accepted unknown keys');
      applyConfig(merged.raw, resolve(merged.raw));
      return status();
    },
    {
      description: 'Change configuration keys given as dotted paths ({"speculation.enabled": true}); validated by the config schema.',
      validator: (changes) => {
        if (changes === null || typeof changes !== 'object' || Array.isArray(changes) || !Object.keys(changes).length) {
          throw new Error('expected a JSON object of dotted keys, for example {"speculation.enabled": true}');
        }
        const merged = applyDottedChanges(raw, changes);
        if (!merged.ok) throw new Error(`configuration rejected: ${merged.problems.map(formatProblem).join('; ')}`);
        validated(merged.raw);
      },
    },
  );

  setHandler(
    replaceConfigUpdate,
    (next) => {
      applyConfig(next, resolve(next));
      return status();
    },
    { description: 'Replace the whole configuration (the TOML file re-read by /admin/config/reload); validated by the config schema.', validator: (next) => void validated(next) },
  );

  const decide = (req: SpeculationRequest): SpeculationDecision => {
    const s = config.speculation;
    const refuse = (reason: Exclude<SpeculationDecision, { allowed: true }>['reason'], detail: string): SpeculationDecision => ({
      allowed: false,
      reason,
      detail,
      config,
    });
    if (active.has(req.taskId)) return { allowed: true, config };
    if (!s.enabled) return refuse('disabled', 'speculation.enabled = false');
    if (paused) return refuse('disabled', 'speculation is paused by an operator');
    if (draining) return refuse('draining', 'speculation is draining');
    if (!inRollout(req.taskId, s.features.rollout_percentage)) {
      return refuse('not_in_rollout', `task is outside the ${s.features.rollout_percentage}% rollout`);
    }
    if (req.depth > s.max_depth) return refuse('depth_limit', `${req.depth} unconfirmed ancestors > max_depth ${s.max_depth}`);
    const cooldownUntil = cooldowns.get(req.agent) ?? 0;
    if (cooldownUntil > Date.now()) {
      return refuse('cooldown', `agent ${req.agent} was slashed; cooldown until ${new Date(cooldownUntil).toISOString()}`);
    }
    if (req.agent !== req.parentAgent && !s.features.enable_cross_agent_speculation) {
      return refuse('disabled', 'cross-agent speculation is disabled (speculation.features.enable_cross_agent_speculation)');
    }
    const branchLimit = s.features.enable_parallel_speculation ? s.max_parallel_branches : 1;
    const siblings = [...active.values()].filter((a) => a.parentTaskId === req.parentTaskId).length;
    if (siblings >= branchLimit) {
      return refuse('branch_limit', `${siblings} speculative branches already run under ${req.parentTaskId} (limit ${branchLimit})`);
    }
    if (active.size >= s.limits.max_state_snapshots) {
      return refuse('memory_limit', `${active.size} speculative results held (max_state_snapshots ${s.limits.max_state_snapshots})`);
    }
    if (req.workerMemoryMb > s.limits.max_memory_mb) {
      return refuse('memory_limit', `worker uses ${req.workerMemoryMb} MB (max_memory_mb ${s.limits.max_memory_mb})`);
    }
    active.set(req.taskId, {
      taskId: req.taskId,
      parentTaskId: req.parentTaskId,
      agent: req.agent,
      depth: req.depth,
    });
    return { allowed: true, config };
  };
  setHandler(admitSpeculationUpdate, decide, {
    description: 'A task asks to speculate: every limit is checked at once and the task is counted as active when allowed.',
    validator: (req) => {
      const problems = speculationRequestProblems(req);
      if (problems.length) throw new Error(`admitSpeculation request rejected: ${problems.join('; ')}`);
    },
  });

  setHandler(speculationEndedSignal, ({ taskId }) => {
    active.delete(taskId);
    pendingRollbacks.delete(taskId);
  }, { description: 'A speculative task reached a final state: its slot is free.' });
  setHandler(agentSlashedSignal, ({ agent }) => {
    cooldowns.set(agent, Date.now() + config.speculation.stake.cooldown_period_ms);
  }, { description: 'An agent\'s bond was slashed: it may not speculate for cooldown_period_ms.' });
  setHandler(drainSignal, () => {
    draining = true;
  }, { description: 'No new speculation; active speculative tasks finish.' });
  setHandler(pauseSignal, () => {
    paused = true;
  }, { description: 'No new speculation until resume.' });
  setHandler(resumeSignal, () => {
    paused = false;
    draining = false;
  }, { description: 'Clear pause and drain.' });
  setHandler(forceRollbackAllSignal, async () => {
    const targets = [...active.keys()].filter((id) => !pendingRollbacks.has(id));
    for (const id of targets) pendingRollbacks.add(id);
    log.warn('force rollback of every active speculative task', { count: targets.length });
    await Promise.all(
      targets.map(async (id) => {
        try {
          await getExternalWorkflowHandle(taskWorkflowId(id)).signal(forceRollbackSignal, { reason: 'force-rollback by operator' });
        } catch {
          // the task already finished: its speculationEnded signal frees the slot
          active.delete(id);
          pendingRollbacks.delete(id);
        }
      }),
    );
  }, { description: 'Every active speculative task rolls back through its compensations.' });
  setHandler(controlStatusQuery, status, { description: 'Live configuration, active speculative tasks, pending rollbacks, drain/pause state.' });

  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  const now = Date.now();
  await continueAsNew<typeof speculationControl>({
    rawConfig: raw,
    active: [...active.values()],
    cooldowns: Object.fromEntries([...cooldowns].filter(([, until]) => until > now)),
    pendingRollbacks: [...pendingRollbacks],
    draining,
    paused,
    configVersion,
  });
}
