/**
 * A task's commitment record on the real embedded SVM, through the custody program: what is at its
 * record address counts as its commitment only when the authority committed it with this entry's content
 * (task, agent, commitment, parent commitment, verification-key hash), and the program takes a record
 * only after its parents' records.
 */
import { Keypair, SystemProgram, Transaction, TransactionInstruction, PublicKey } from '@solana/web3.js';
import { commitAddress, type BankrunChain } from '../../activities/chain';
import { DEFAULT_RECORD_RETENTION_SECS } from '../../activities/chain/custody/deployment';
import { createCommitActivity, readCommitRecord } from '../../activities/chain/commit-activities';
import { MEMO_PROGRAM_ID } from '../../activities/chain/port';
import type { CommitEntry } from '../../shared/proof-records';
import { embeddedEnv, type ChainEnv } from './helpers';

let env: ChainEnv;
let commit: ReturnType<typeof createCommitActivity>;
beforeEach(async () => {
  env = await embeddedEnv();
  env.keys.agent('bob', { create: true });
  commit = createCommitActivity(env.deps, { finalityMs: 0 });
});
afterEach(() => env.close());

const entry = (taskId: string, over: Partial<CommitEntry> = {}): CommitEntry => ({
  taskId,
  agent: 'bob',
  commitment: '1111',
  parentCommitment: '0',
  verificationKeyHash: 'ab'.repeat(32),
  ...over,
});

const send = (...entries: CommitEntry[]) => commit.sendCommitments({ entries });
const historyOf = async (taskId: string) => env.chain.getMemoHistory(await commitAddress(env.deps, taskId));
const recordOf = async (taskId: string) =>
  readCommitRecord(env.chain, env.keys.authority().publicKey, await commitAddress(env.deps, taskId), taskId);

/** What the chain's ledger says about a task's commit address: how many transactions touched it, and the memo of each. */
async function ledger(taskId: string) {
  const history = await historyOf(taskId);
  return { transactions: history.length, memos: history.map((h) => h.memo) };
}

/** A stranger (not the authority) sends a transfer to the commit address, with a memo if given. */
async function foreignTransfer(taskId: string, memo?: string): Promise<string> {
  const stranger = Keypair.generate();
  await env.chain.airdrop(stranger.publicKey, 1_000_000_000);
  const tx = new Transaction().add(
    SystemProgram.transfer({
      fromPubkey: stranger.publicKey,
      toPubkey: await commitAddress(env.deps, taskId),
      lamports: await env.chain.rentExemptMinimum(0),
    }),
  );
  if (memo) {
    tx.add(
      new TransactionInstruction({
        programId: new PublicKey(MEMO_PROGRAM_ID),
        keys: [{ pubkey: stranger.publicKey, isSigner: true, isWritable: false }],
        data: Buffer.from(memo, 'utf8'),
      }),
    );
  }
  return (await env.chain.send(tx, [stranger])).signature;
}

test('a retried commit of the same entry answers with the first signature and sends nothing', async () => {
  const first = await send(entry('c-same'));
  const before = await ledger('c-same');
  expect(await send(entry('c-same'))).toEqual(first);
  expect(await ledger('c-same')).toEqual(before);
  expect(before.transactions).toBe(1);
});

test.each([
  ['commitment', { commitment: '2222' }, /commitment: on-chain "1111", this entry "2222"/],
  ['parent commitment', { parentCommitment: '3333' }, /parent_commitment: on-chain "0", this entry "3333"/],
  ['agent', { agent: 'mallory' }, /agent: on-chain "bob", this entry "mallory"/],
  [
    'verification key hash',
    { verificationKeyHash: 'cd'.repeat(32) },
    new RegExp(`verification_key_hash: on-chain "${'ab'.repeat(32)}", this entry "${'cd'.repeat(32)}"`),
  ],
])(
  'a record with another %s is CommitmentMismatch (non-retryable), never a success; nothing is sent',
  async (_field, over, message) => {
    const first = await send(entry('c-diff'));
    const before = await ledger('c-diff');
    const error = await send(entry('c-diff', over)).then(
      () => null,
      (e: unknown) => e as Error & { type?: string; nonRetryable?: boolean },
    );
    expect(error).toMatchObject({ type: 'CommitmentMismatch', nonRetryable: true });
    expect(error?.message).toMatch(/task c-diff already has a different commitment on-chain/);
    expect(error?.message).toContain(first.signatures['c-diff']);
    expect(error?.message).toMatch(message);
    expect(await ledger('c-diff')).toEqual(before);
  },
);

test('a commit address pre-funded by a plain transfer is not a commitment: the authority-signed record is written anyway', async () => {
  const transfer = await foreignTransfer('c-prefunded');
  const { signatures } = await send(entry('c-prefunded'));
  expect(signatures['c-prefunded']).not.toBe(transfer);
  const record = await recordOf('c-prefunded');
  expect(record).toMatchObject({
    signature: signatures['c-prefunded'],
    memo: {
      action: 'commit',
      task: 'c-prefunded',
      agent: 'bob',
      commitment: '1111',
      parent: '0',
      vkey: 'ab'.repeat(32),
    },
  });
  // …and it is idempotent from then on, like any other record.
  expect(await send(entry('c-prefunded'))).toEqual({ signatures });
  await expect(send(entry('c-prefunded', { commitment: '9' }))).rejects.toMatchObject({ type: 'CommitmentMismatch' });
});

test('a commit memo signed by someone other than the authority is ignored: the real commitment lands and is the record', async () => {
  const forged = JSON.stringify({
    app: 'agenc',
    action: 'commit',
    task: 'c-forged',
    agent: 'bob',
    commitment: '6666',
    parent: '0',
    vkey: 'ab'.repeat(32),
  });
  const forgery = await foreignTransfer('c-forged', forged);
  const { signatures } = await send(entry('c-forged'));
  expect(signatures['c-forged']).not.toBe(forgery);
  expect(await recordOf('c-forged')).toMatchObject({
    signature: signatures['c-forged'],
    memo: { commitment: '1111' },
  });
});

test('in a batch, a mismatch stops at that entry: the ancestors before it landed, nothing after it is sent', async () => {
  await send(entry('b-2', { commitment: '5' }));
  const error = await send(entry('b-1'), entry('b-2'), entry('b-3')).catch((e: unknown) => e);
  expect(error).toMatchObject({
    type: 'CommitmentMismatch',
    message: expect.stringContaining('task b-2 already has a different commitment on-chain'),
  });
  expect((await ledger('b-1')).transactions).toBe(1);
  expect((await ledger('b-3')).transactions).toBe(0);
});

test("the program refuses a record before its parent's: nothing lands until the parent has committed", async () => {
  const child = entry('o-child', { parentTaskIds: ['o-parent'] });
  await expect(send(child)).rejects.toThrow(/ParentMissing/);
  expect((await ledger('o-child')).transactions).toBe(0);
  await send(entry('o-parent'));
  await send(child);
  expect(await recordOf('o-child')).toMatchObject({ memo: { task: 'o-child' } });
});

test('a settled record is closed once its retention has passed, its rent back to the authority; not before, and never a pending one', async () => {
  const { signatures } = await send(entry('r-close'), entry('r-pending'));
  // Final: the finality wait marks the records confirmed (here only r-close's).
  await commit.awaitFinality({ signatures: { 'r-close': signatures['r-close']! } });
  const authority = env.keys.authority().publicKey;
  const rent = await env.chain.getLamports(await commitAddress(env.deps, 'r-close'));
  expect(await env.operator.closeRecords({ taskIds: ['r-close', 'r-pending', 'r-none'] })).toEqual({
    closed: [],
    retained: 1,
    pending: 1,
    absent: 1,
    lamports_returned: 0,
  });
  await (env.chain as BankrunChain).warpClock(DEFAULT_RECORD_RETENTION_SECS + 1);
  const before = await env.chain.getLamports(authority);
  expect(await env.operator.closeRecords({ taskIds: ['r-close', 'r-pending'] })).toMatchObject({
    closed: ['r-close'],
    pending: 1,
    lamports_returned: rent,
  });
  expect(await env.chain.getAccount(await commitAddress(env.deps, 'r-close'))).toBeNull();
  expect((await env.chain.getLamports(authority)) - before).toBe(rent - 5_000); // less the fee
  // Its history stays: the record's content is still readable from the ledger.
  expect(await recordOf('r-close')).toMatchObject({ memo: { task: 'r-close' } });
});
