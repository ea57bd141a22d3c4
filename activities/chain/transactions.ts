/**
 * The one place transactions are built; both chain adapters send exactly these. Every transaction pays
 * its fee from the authority and carries a Memo (signed by the authority) whose JSON names the action,
 * the task, the depth and the amounts (or, for a commit, the commitments): the on-chain record the stake
 * ledger and the commitment records are read back from (ledger.ts).
 */
import { PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { MEMO_PROGRAM_ID } from './port';

/** Marks memos written by this module. */
export const MEMO_APP = 'agenc';

export type StakeMemo =
  | { action: 'deposit'; agent: string; amount: number; reserve: number; request?: string }
  | { action: 'withdraw'; agent: string; amount: number; request?: string }
  | { action: 'lock'; task: string; agent: string; depth: number; amount: number }
  | { action: 'release'; task: string; agent: string; amount: number; reason: string }
  | {
      action: 'slash';
      task: string;
      agent: string;
      amount: number;
      slashed: number;
      returned: number;
      slash_percentage: number;
      reason: string;
    }
  | { action: 'treasury_fund'; amount: number }
  /** A proven result: the output commitment, the parent's, and the hash of the verification key its proof is for. */
  | { action: 'commit'; task: string; agent: string; commitment: string; parent: string; vkey: string };

const MAX_REASON_LENGTH = 80;

export function memoInstruction(signer: PublicKey, memo: StakeMemo): TransactionInstruction {
  const body = 'reason' in memo ? { ...memo, reason: memo.reason.slice(0, MAX_REASON_LENGTH) } : memo;
  return new TransactionInstruction({
    programId: new PublicKey(MEMO_PROGRAM_ID),
    keys: [{ pubkey: signer, isSigner: true, isWritable: false }],
    data: Buffer.from(JSON.stringify({ app: MEMO_APP, ...body }), 'utf8'),
  });
}

export interface SeededAccount {
  address: PublicKey;
  seed: string;
}

/**
 * Lock: stake → bond in one transaction. The stake's lamports go to the authority first (TransferWithSeed),
 * then the authority creates the bond with exactly that amount (CreateAccountWithSeed), so the authority
 * needs only the fee. CreateAccountWithSeed fails if the bond exists: a bond cannot be locked twice.
 */
export function buildLockTx(p: {
  authority: PublicKey;
  stake: SeededAccount;
  bond: SeededAccount;
  amount: number;
  memo: Extract<StakeMemo, { action: 'lock' }>;
}): Transaction {
  return new Transaction().add(
    transferFromSeeded(p.authority, p.stake, p.authority, p.amount),
    SystemProgram.createAccountWithSeed({
      fromPubkey: p.authority,
      newAccountPubkey: p.bond.address,
      basePubkey: p.authority,
      seed: p.bond.seed,
      lamports: p.amount,
      space: 0,
      programId: SystemProgram.programId,
    }),
    memoInstruction(p.authority, p.memo),
  );
}

/** Release: all of the bond back to the stake; the emptied bond account is removed by the runtime. */
export function buildReleaseTx(p: {
  authority: PublicKey;
  bond: SeededAccount;
  stake: PublicKey;
  amount: number;
  memo: Extract<StakeMemo, { action: 'release' }>;
}): Transaction {
  return new Transaction().add(
    transferFromSeeded(p.authority, p.bond, p.stake, p.amount),
    memoInstruction(p.authority, p.memo),
  );
}

/** Slash: `slashed` to the treasury and `returned` to the stake, one transaction, the bond emptied. */
export function buildSlashTx(p: {
  authority: PublicKey;
  bond: SeededAccount;
  stake: PublicKey;
  treasury: PublicKey;
  slashed: number;
  returned: number;
  memo: Extract<StakeMemo, { action: 'slash' }>;
}): Transaction {
  const tx = new Transaction();
  if (p.slashed > 0) tx.add(transferFromSeeded(p.authority, p.bond, p.treasury, p.slashed));
  if (p.returned > 0) tx.add(transferFromSeeded(p.authority, p.bond, p.stake, p.returned));
  return tx.add(memoInstruction(p.authority, p.memo));
}

/**
 * Deposit from the agent's wallet into its stake account. The first deposit creates the account with
 * CreateAccountWithSeed (wallet funds it, authority signs as the base key) including the rent reserve;
 * later deposits are plain transfers. Signers: authority (fee payer, base) and the wallet.
 */
export function buildDepositTx(p: {
  authority: PublicKey;
  wallet: PublicKey;
  stake: SeededAccount;
  amount: number;
  createWithReserve: number | null;
  memo: Extract<StakeMemo, { action: 'deposit' }>;
}): Transaction {
  const move =
    p.createWithReserve === null
      ? SystemProgram.transfer({ fromPubkey: p.wallet, toPubkey: p.stake.address, lamports: p.amount })
      : SystemProgram.createAccountWithSeed({
          fromPubkey: p.wallet,
          newAccountPubkey: p.stake.address,
          basePubkey: p.authority,
          seed: p.stake.seed,
          lamports: p.amount + p.createWithReserve,
          space: 0,
          programId: SystemProgram.programId,
        });
  return new Transaction().add(move, memoInstruction(p.authority, p.memo));
}

/** Withdraw available stake back to the agent's wallet. */
export function buildWithdrawTx(p: {
  authority: PublicKey;
  stake: SeededAccount;
  wallet: PublicKey;
  amount: number;
  memo: Extract<StakeMemo, { action: 'withdraw' }>;
}): Transaction {
  return new Transaction().add(
    transferFromSeeded(p.authority, p.stake, p.wallet, p.amount),
    memoInstruction(p.authority, p.memo),
  );
}

/**
 * Commit: the task's commitment record, an account at its commit address holding the rent-exempt
 * minimum, created in the same transaction as the Memo that carries the content. CreateAccountWithSeed
 * fails if the account exists, so two commits of one task cannot both create it.
 *
 * `occupied`: the address already holds lamports that no commit put there (anyone can transfer to a
 * derivable address, and CreateAccountWithSeed then refuses it forever). The Memo is carried by a
 * zero-lamport transfer to the address instead, so the record still sits in the address's history and
 * a stranger's transfer cannot keep a task from committing.
 */
export function buildCommitTx(p: {
  authority: PublicKey;
  record: SeededAccount;
  rentMinimum: number;
  occupied: boolean;
  memo: Extract<StakeMemo, { action: 'commit' }>;
}): Transaction {
  const touch = p.occupied
    ? SystemProgram.transfer({ fromPubkey: p.authority, toPubkey: p.record.address, lamports: 0 })
    : SystemProgram.createAccountWithSeed({
        fromPubkey: p.authority,
        basePubkey: p.authority,
        seed: p.record.seed,
        newAccountPubkey: p.record.address,
        lamports: p.rentMinimum,
        space: 0,
        programId: SystemProgram.programId,
      });
  return new Transaction().add(touch, memoInstruction(p.authority, p.memo));
}

/** Bring the treasury to the rent-exempt minimum so that small slashes can land in it. */
export function buildTreasuryFundTx(p: { authority: PublicKey; treasury: PublicKey; amount: number }): Transaction {
  return new Transaction().add(
    SystemProgram.transfer({ fromPubkey: p.authority, toPubkey: p.treasury, lamports: p.amount }),
    memoInstruction(p.authority, { action: 'treasury_fund', amount: p.amount }),
  );
}

function transferFromSeeded(
  authority: PublicKey,
  from: SeededAccount,
  to: PublicKey,
  lamports: number,
): TransactionInstruction {
  return SystemProgram.transfer({
    fromPubkey: from.address,
    basePubkey: authority,
    toPubkey: to,
    lamports,
    seed: from.seed,
    programId: SystemProgram.programId,
  });
}
