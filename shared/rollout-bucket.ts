/**
 * Whether a task is inside the rollout: a stable hash of its id, in basis points, against the
 * percentage. Monotonic by construction: a task inside at 5% is inside at 25%.
 */
const BUCKETS = 10_000;

/** FNV-1a, 32 bit: stable across processes, versions and machines; no Node built-ins (workflow code calls it). */
export function rolloutBucket(taskId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) {
    hash ^= taskId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % BUCKETS;
}

export function inRollout(taskId: string, rolloutPercentage: number): boolean {
  return rolloutBucket(taskId) < Math.round(rolloutPercentage * (BUCKETS / 100));
}

/** Rollout targeting (`speculation.features`): the agents and task-id prefixes inside the rollout at any percentage. */
export interface RolloutTargets {
  rollout_target_agents: readonly string[];
  rollout_target_task_prefixes: readonly string[];
}

/** Is this task targeted into the rollout, whatever its percentage (test traffic, such as the smoke tests')? */
export function isRolloutTarget(task: { taskId: string; agent: string }, targets: RolloutTargets): boolean {
  return (
    targets.rollout_target_agents.includes(task.agent) ||
    targets.rollout_target_task_prefixes.some((prefix) => task.taskId.startsWith(prefix))
  );
}
