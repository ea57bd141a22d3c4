/**
 * `commitResults`: puts proven results on-chain, ancestors first. Each result is one transaction with
 * the custody program's Commit: the task's commitment record (a program account at the address derived
 * from the authority and the task, holding the output commitment, the agent's key, the verification-key
 * hash and its parents' records, which the program requires to exist: ancestor order is the chain's
 * rule) and a Memo with the same content in words. The record makes each result idempotent: a retry
 * after a crash finds it and answers with the first transaction's signature, never a second commit. What
 * counts is the content, compared field by field with the entry (task, agent, commitment, parent
 * commitment, verification-key hash): a record with other content is CommitmentMismatch (non-retryable,
 * nothing sent). Lamports a stranger sent to the address are no obstacle (the record is allocated over
 * them). Once final, `awaitFinality` marks each record confirmed.
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
import { Context } from '@temporalio/activity';
import { Transaction, type PublicKey } from '@solana/web3.js';
import type { TaskActivities } from '../../shared/activity-contract';
import type { CommitEntry } from '../../shared/proof-records';
import { ensureAuthorityFunded, type StakeDeps } from './context';
import type { ChainPort } from './port';
import { validateTaskId } from './addresses';
import { chainFailure } from './errors';
import { commitRecord, parseMemos, type CommitMemo, type CommitRecord } from './ledger';
import { memoInstruction } from './transactions';
import { custodyOf } from './custody/deployment';
import { readRecord } from './custody/accounts';
import { recordLen } from './custody/layout';

/**
 * A task's commitment record as the chain holds it: the first commit Memo the authority signed for it in
 * a transaction that touched its record address `address` (memos anyone else paid for are ignored), or
 * null. Used by the commit activity and by `agenc proof verify`.
 */
export async function readCommitRecord(
  chain: Pick<ChainPort, 'getMemoHistory'>,
  authority: PublicKey,
  address: PublicKey,
  taskId: string,
): Promise<(CommitRecord & { address: string }) | null> {
  const record = commitRecord(parseMemos(await chain.getMemoHistory(address), authority.toBase58()), taskId);
  return record && { ...record, address: address.toBase58() };
}

/** A field in which a commitment record and what it was expected to say disagree. */
export interface CommitDifference {
  field: 'task_id' | 'agent' | 'commitment' | 'parent_commitment' | 'verification_key_hash';
  on_chain: unknown;
  expected: string;
}

/** Where the record's content differs from `entry`, field by field; empty when it is this entry's commitment. */
export function commitDifferences(memo: CommitMemo, entry: CommitEntry): CommitDifference[] {
  const pairs: Array<[CommitDifference['field'], unknown, string]> = [
    ['task_id', memo.task, entry.taskId],
    ['agent', memo.agent, entry.agent],
    ['commitment', memo.commitment, entry.commitment],
    ['parent_commitment', memo.parent, entry.parentCommitment],
    ['verification_key_hash', memo.vkey, entry.verificationKeyHash],
  ];
  return pairs
    .filter(([, onChain, expected]) => onChain !== expected)
    .map(([field, on_chain, expected]) => ({ field, on_chain, expected }));
}

export function describeDifferences(differences: CommitDifference[], expectedAs: string): string {
  return differences
    .map((d) => `${d.field}: on-chain ${JSON.stringify(d.on_chain)}, ${expectedAs} ${JSON.stringify(d.expected)}`)
    .join('; ');
}

/** The record's signature when it is this entry's commitment; CommitmentMismatch when it is another's. */
function sameCommitment(record: CommitRecord, entry: CommitEntry, address: PublicKey): string {
  const differences = commitDifferences(record.memo, entry);
  if (!differences.length) return record.signature;
  throw chainFailure(
    'CommitmentMismatch',
    `task ${entry.taskId} already has a different commitment on-chain (signature ${record.signature}, record ${address.toBase58()}): ` +
      `${describeDifferences(differences, 'this entry')}; nothing was sent. A task id is committed once: ` +
      'this is a reused task id or a re-run that produced another result, and the record on chain stands',
    { signature: record.signature, recordAddress: address.toBase58(), differences },
  );
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
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`AGENC_EMBEDDED_FINALITY_MS=${raw} must be a whole number of milliseconds >= 0`);
  return n;
}

/** How often a commit activity heartbeats (its workflow's heartbeat timeout is 10 s). */
const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Runs `work` heartbeating every HEARTBEAT_EVERY_MS while it lasts (a send may wait for a cluster's
 * confirmation, finality for seconds), so a worker that dies mid-commit is noticed within the heartbeat
 * timeout instead of at start-to-close. Outside an activity (tests call these directly) it just runs.
 */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return work();
  }
  const ticker = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    context.heartbeat();
    return await work();
  } finally {
    clearInterval(ticker);
  }
}

export function createCommitActivity(
  deps: StakeDeps,
  opts: {
    finalityMs?: number;
    /** Seconds from a task's commitment landing to its finality, per task. */ onFinality?: (seconds: number) => void;
  } = {},
): Pick<TaskActivities, 'sendCommitments' | 'awaitFinality' | 'commitResults'> {
  const finalityMs = deps.chain.kind === 'embedded' ? (opts.finalityMs ?? embeddedFinalityMs()) : 0;

  /** The signature of the result's commit, sending it unless it is on-chain already (with this content). */
  async function commitOne(entry: CommitEntry): Promise<string> {
    const { taskId, agent, commitment, parentCommitment, verificationKeyHash } = entry;
    validateTaskId(taskId);
    const authority = deps.keys.authority();
    const custody = await custodyOf(deps);
    const address = await custody.record(taskId);
    const existing = await readCommitRecord(deps.chain, authority.publicKey, address, taskId);
    // Committed already (this is a retry): answer with the first commit, never send a second.
    if (existing) return sameCommitment(existing, entry, address);
    await ensureAuthorityFunded(deps);
    const parentTaskIds = entry.parentTaskIds ?? [];
    const tx = new Transaction().add(
      ...(await custody.commit({
        taskId,
        agent: deps.keys.agentPublicKey(agent),
        commitment: fieldBytes('commitment', commitment),
        vkeyHash: hashBytes(verificationKeyHash),
        parentTaskIds,
        rentLamports: await deps.chain.rentExemptMinimum(recordLen(parentTaskIds.length)),
      })),
      memoInstruction(authority.publicKey, {
        action: 'commit',
        task: taskId,
        agent,
        commitment,
        parent: parentCommitment,
        vkey: verificationKeyHash,
      }),
    );
    try {
      return (await deps.chain.send(tx, [authority])).signature;
    } catch (err) {
      // Landed before the error, or another attempt of this task committed first: only a record with
      // this content counts as this commit.
      const landed = await readCommitRecord(deps.chain, authority.publicKey, address, taskId).catch(() => null);
      if (landed) return sameCommitment(landed, entry, address);
      throw err;
    }
  }

  /** Marks the tasks' records confirmed (after finality); a record settled already is left as it is. */
  async function confirmRecords(taskIds: string[]): Promise<void> {
    const authority = deps.keys.authority();
    const custody = await custodyOf(deps);
    for (const taskId of taskIds) {
      const address = await custody.record(taskId);
      const found = await readRecord(deps.chain, custody, address);
      if (found?.state?.status !== 'pending') continue;
      try {
        await deps.chain.send(new Transaction().add(await custody.settleRecord({ taskId, status: 'confirmed' })), [
          authority,
        ]);
      } catch (err) {
        const after = await readRecord(deps.chain, custody, address).catch(() => null);
        if (after?.state?.status === 'pending') throw err;
      }
    }
  }

  async function sendCommitments({
    entries,
  }: {
    entries: CommitEntry[];
  }): Promise<{ signatures: Record<string, string> }> {
    if (!entries.length) throw new Error('sendCommitments needs at least one entry');
    const signatures: Record<string, string> = {};
    for (const entry of entries) signatures[entry.taskId] = await commitOne(entry);
    return { signatures };
  }

  /**
   * Final, then each record marked confirmed. The embedded chain's finality is emulated, counted from the
   * landing; on a cluster this waits for the finality level (finality.ts: `finalized` by default).
   */
  async function awaitFinality(input: { signatures?: Record<string, string> } = {}): Promise<void> {
    const landed = Date.now();
    // Also on a retry: the first attempt may have died during this wait.
    if (finalityMs > 0) await new Promise((r) => setTimeout(r, finalityMs));
    await deps.chain.awaitFinality(Object.values(input.signatures ?? {}));
    await confirmRecords(Object.keys(input.signatures ?? {}));
    const seconds = (Date.now() - landed) / 1000;
    for (let i = 0; i < Object.keys(input.signatures ?? {}).length; i++) opts.onFinality?.(seconds);
  }

  return {
    sendCommitments: (input) => heartbeating(() => sendCommitments(input)),
    awaitFinality: (input) => heartbeating(() => awaitFinality(input)),
    async commitResults({ entries }) {
      const landed = await sendCommitments({ entries });
      await awaitFinality(landed);
      return landed;
    },
  };
}

/** A field element written in decimal (a Poseidon commitment) as the 32 big-endian bytes the record holds. */
function fieldBytes(what: string, decimal: string): Buffer {
  if (typeof decimal !== 'string' || !/^[0-9]{1,78}$/.test(decimal) || BigInt(decimal) >= 1n << 256n) {
    throw chainFailure('InvalidAmount', `the ${what} must be a decimal field element, got ${JSON.stringify(decimal)}`);
  }
  return Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex');
}

/** A sha256 written in hex as its 32 bytes; anything else is hashed (the record has 32 bytes for it). */
function hashBytes(hash: string): Buffer {
  return /^[0-9a-f]{64}$/i.test(hash) ? Buffer.from(hash, 'hex') : createHash('sha256').update(hash, 'utf8').digest();
}
