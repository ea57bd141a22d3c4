/**
 * `commitResult`: puts a confirmed task's commitment on-chain. One transaction creates the task's
 * commitment record (a System account derived from the authority with seed "c" + hash of the task id,
 * holding the rent-exempt minimum) and carries a Memo with the output commitment, the parent
 * commitment and the verification-key hash. The record's existence makes the activity idempotent: a
 * retry after a crash finds it and returns the first transaction's signature, never a second commit.
 */
import { createHash } from 'node:crypto';
import { PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import type { TaskActivities } from '../shared/activity-contract';
import { ensureAuthorityFunded, type StakeDeps } from './chain/context';
import { MEMO_PROGRAM_ID } from './chain/port';
import { validateTaskId } from './chain/addresses';
import { MEMO_APP } from './chain/transactions';

export function commitSeed(taskId: string): string {
  return `c${createHash('sha256').update(`commit:${taskId}`).digest('hex').slice(0, 31)}`;
}

export function commitAddress(authority: PublicKey, taskId: string): Promise<PublicKey> {
  return PublicKey.createWithSeed(authority, commitSeed(taskId), SystemProgram.programId);
}

export function createCommitActivity(deps: StakeDeps): Pick<TaskActivities, 'commitResult'> {
  return {
    async commitResult({ taskId, agent, commitment, parentCommitment, verificationKeyHash }) {
      validateTaskId(taskId);
      const authority = deps.keys.authority();
      const record = await commitAddress(authority.publicKey, taskId);
      const existing = await deps.chain.getAccount(record);
      if (existing) {
        // Committed already (this is a retry): answer with the first commit, never send a second.
        const [first] = await deps.chain.getMemoHistory(record);
        return { signature: first?.signature ?? `committed (record ${record.toBase58()})` };
      }
      await ensureAuthorityFunded(deps);
      const memo = {
        app: MEMO_APP,
        action: 'commit',
        task: taskId,
        agent,
        commitment,
        parent: parentCommitment,
        vkey: verificationKeyHash,
      };
      const tx = new Transaction().add(
        SystemProgram.createAccountWithSeed({
          fromPubkey: authority.publicKey,
          basePubkey: authority.publicKey,
          seed: commitSeed(taskId),
          newAccountPubkey: record,
          lamports: await deps.chain.rentExemptMinimum(0),
          space: 0,
          programId: SystemProgram.programId,
        }),
        new TransactionInstruction({
          programId: new PublicKey(MEMO_PROGRAM_ID),
          keys: [{ pubkey: authority.publicKey, isSigner: true, isWritable: false }],
          data: Buffer.from(JSON.stringify(memo), 'utf8'),
        }),
      );
      const { signature } = await deps.chain.send(tx, [authority]);
      return { signature };
    },
  };
}
