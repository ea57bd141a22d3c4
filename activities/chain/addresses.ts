/**
 * Stake and bond accounts are plain System accounts at addresses derived from the authority:
 * `createWithSeed(authority, seed, SystemProgram)`. Only the authority (the base key) can create them or
 * move lamports out of them (TransferWithSeed). A seed is at most 32 bytes, so both are hashes:
 *   stake: "s" + 31 hex chars of sha256("stake:" + agent)
 *   bond:  "b" + 31 hex chars of sha256("bond:" + taskId)
 */
import { createHash } from 'node:crypto';
import { PublicKey, SystemProgram } from '@solana/web3.js';
import { chainFailure } from './errors';

export const MAX_TASK_ID_LENGTH = 128;

export function stakeSeed(agent: string): string {
  return `s${sha256Hex(`stake:${agent}`).slice(0, 31)}`;
}

export function bondSeed(taskId: string): string {
  return `b${sha256Hex(`bond:${taskId}`).slice(0, 31)}`;
}

export function stakeAddress(authority: PublicKey, agent: string): Promise<PublicKey> {
  return PublicKey.createWithSeed(authority, stakeSeed(agent), SystemProgram.programId);
}

export function bondAddress(authority: PublicKey, taskId: string): Promise<PublicKey> {
  return PublicKey.createWithSeed(authority, bondSeed(taskId), SystemProgram.programId);
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

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}
