/**
 * The Memo every stake and commit transaction carries (signed by the authority, which pays the fee):
 * JSON naming the action, the task, the depth and the amounts (or, for a commit, the commitments), the
 * record in words of what the custody program did (custody/instructions.ts builds its instructions).
 * The stake ledger and `agenc proof verify` read these back (ledger.ts); the program's accounts are
 * what holds and decides.
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

/** Bring the treasury to the rent-exempt minimum so that small slashes can land in it. */
export function buildTreasuryFundTx(p: { authority: PublicKey; treasury: PublicKey; amount: number }): Transaction {
  return new Transaction().add(
    SystemProgram.transfer({ fromPubkey: p.authority, toPubkey: p.treasury, lamports: p.amount }),
    memoInstruction(p.authority, { action: 'treasury_fund', amount: p.amount }),
  );
}
