/**
 * Where a deployment's stake, bonds and commitment records are: accounts of the custody program
 * (programs/custody, addresses in custody/instructions.ts):
 *   stake:  the agent's vault, derived from the agent's key and the config
 *   bond:   derived from the authority and sha256(task ‖ attempt): one per task attempt
 *   commit: derived from the authority and the task: one record per task
 */
import type { PublicKey } from '@solana/web3.js';
import { chainFailure } from './errors';
import type { StakeDeps } from './context';
import { custodyOf } from './custody/deployment';

export const MAX_TASK_ID_LENGTH = 128;

/** The agent's stake vault. */
export async function stakeAddress(deps: StakeDeps, agent: string): Promise<PublicKey> {
  return (await custodyOf(deps)).vault(deps.keys.agentPublicKey(agent));
}

/** The bond account of the task's (first) attempt. */
export async function bondAddress(deps: StakeDeps, taskId: string): Promise<PublicKey> {
  return (await custodyOf(deps)).bond(taskId);
}

/** The task's commitment record. */
export async function commitAddress(deps: StakeDeps, taskId: string): Promise<PublicKey> {
  return (await custodyOf(deps)).record(taskId);
}

/** Returns the task id if usable in a bond seed and a memo, else throws InvalidTaskId. */
export function validateTaskId(taskId: unknown): string {
  if (
    typeof taskId !== 'string' ||
    taskId.length === 0 ||
    taskId.length > MAX_TASK_ID_LENGTH ||
    /[\u0000-\u001f]/.test(taskId)
  ) {
    throw chainFailure(
      'InvalidTaskId',
      `task id ${JSON.stringify(taskId)} is invalid: expected 1-${MAX_TASK_ID_LENGTH} printable characters`,
    );
  }
  return taskId;
}
