/**
 * `commitResults`: puts proven results on-chain, ancestors first. Each result is one transaction that
 * creates the task's commitment record (a System account derived from the authority with seed "c" +
 * hash of the task id, holding the rent-exempt minimum) and carries a Memo with the output commitment,
 * the parent commitment and the verification-key hash. The record's existence makes each result
 * idempotent: a retry after a crash finds it and answers with the first transaction's signature, never
 * a second commit.
 *
 * A batch pays one finality wait, not one per result. Each transaction is sent only after the one
 * before it has landed (`processed` on the embedded SVM, `confirmed` on a cluster: voted by a
 * supermajority, so the next one goes into a later slot of the same fork), so on-chain order is ancestor
 * order; once the last one is final, every earlier one (an ancestor slot on that fork) is final too.
 *
 * Landing and finality are two activities (`sendCommitments`, `awaitFinality`) so that a dependent can
 * send its commitment as soon as its parent's has landed, and the finality waits of a chain overlap
 * instead of following one another; the same rule (sent only after the ancestor's landed) keeps
 * ancestors first. `commitResults` is both in one, for workflows started before.
 */
import { createHash } from 'node:crypto';
import { PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import type { TaskActivities } from '../../shared/activity-contract';
import type { CommitEntry } from '../../shared/proof-records';
import { ensureAuthorityFunded, type StakeDeps } from './context';
import { MEMO_PROGRAM_ID } from './port';
import { validateTaskId } from './addresses';
import { MEMO_APP } from './transactions';

export function commitSeed(taskId: string): string {
  return `c${createHash('sha256').update(`commit:${taskId}`).digest('hex').slice(0, 31)}`;
}

export function commitAddress(authority: PublicKey, taskId: string): Promise<PublicKey> {
  return PublicKey.createWithSeed(authority, commitSeed(taskId), SystemProgram.programId);
}

/**
 * The embedded SVM finalizes instantly; a cluster takes about 1 s ("confirmed") to 13 s ("finalized").
 * Speculation exists because of that wait, so on the embedded chain a commit waits this long after
 * its transaction before it counts as final (`AGENC_EMBEDDED_FINALITY_MS`; 0 turns it off).
 */
export const DEFAULT_EMBEDDED_FINALITY_MS = 3000;

export function embeddedFinalityMs(): number {
  const raw = process.env.AGENC_EMBEDDED_FINALITY_MS;
  const n = raw === undefined ? DEFAULT_EMBEDDED_FINALITY_MS : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`AGENC_EMBEDDED_FINALITY_MS=${raw} must be a whole number of milliseconds >= 0`);
  return n;
}

export function createCommitActivity(
  deps: StakeDeps,
  opts: { finalityMs?: number } = {},
): Pick<TaskActivities, 'sendCommitments' | 'awaitFinality' | 'commitResults'> {
  const finalityMs = deps.chain.kind === 'embedded' ? (opts.finalityMs ?? embeddedFinalityMs()) : 0;

  /** The signature of the result's commit, sending it unless it is on-chain already. */
  async function commitOne(entry: CommitEntry): Promise<string> {
    const { taskId, agent, commitment, parentCommitment, verificationKeyHash } = entry;
    validateTaskId(taskId);
    const authority = deps.keys.authority();
    const record = await commitAddress(authority.publicKey, taskId);
    if (await deps.chain.getAccount(record)) {
      // Committed already (this is a retry): answer with the first commit, never send a second.
      const [first] = await deps.chain.getMemoHistory(record);
      return first?.signature ?? `committed (record ${record.toBase58()})`;
    }
    await ensureAuthorityFunded(deps);
    const memo = { app: MEMO_APP, action: 'commit', task: taskId, agent, commitment, parent: parentCommitment, vkey: verificationKeyHash };
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
    return (await deps.chain.send(tx, [authority])).signature;
  }

  async function sendCommitments({ entries }: { entries: CommitEntry[] }): Promise<{ signatures: Record<string, string> }> {
    if (!entries.length) throw new Error('sendCommitments needs at least one entry');
    const signatures: Record<string, string> = {};
    for (const entry of entries) signatures[entry.taskId] = await commitOne(entry);
    return { signatures };
  }

  /**
   * The embedded chain's emulated finality, counted from the landing. On a cluster the send already
   * waited for `confirmed` (a supermajority's vote), which this deployment counts as final, as before.
   */
  async function awaitFinality(): Promise<void> {
    // Also on a retry: the first attempt may have died during this wait.
    if (finalityMs > 0) await new Promise((r) => setTimeout(r, finalityMs));
  }

  return {
    sendCommitments,
    awaitFinality,
    async commitResults({ entries }) {
      const landed = await sendCommitments({ entries });
      await awaitFinality();
      return landed;
    },
  };
}
