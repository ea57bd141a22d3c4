/**
 * The Memo every stake and commit transaction carries (signed by the authority, which pays the fee):
 * JSON naming the action, the task, the depth and the amounts (or, for a commit, the commitments), the
 * record in words of what the custody program did (custody/instructions.ts builds its instructions).
 * The stake ledger and `agenc proof verify` read these back (ledger.ts); the program's accounts are
 * what holds and decides.
 */
import { PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { MEMO_PROGRAM_ID } from './port';

/** The most bytes a serialized transaction may have (Solana's packet data size). */
export const PACKET_DATA_SIZE = 1232;

/** The size `tx` serializes to with `signatures` signatures, `feePayer` paying (the blockhash's value does not change it). */
export function serializedSize(tx: Transaction, feePayer: PublicKey, signatures = 1): number {
  const measured = new Transaction({ feePayer, recentBlockhash: PublicKey.default.toBase58() }).add(...tx.instructions);
  return 1 + 64 * signatures + measured.serializeMessage().length;
}

/** Marks memos written by this module. */
export const MEMO_APP = 'agenc';

export type StakeMemo =
  | { action: 'deposit'; agent: string; amount: number; reserve: number; request?: string }
  | { action: 'withdraw'; agent: string; amount: number; request?: string }
  /** `attempt`: the task's attempt when not its first (each attempt's bond is an account of its own). */
  | { action: 'lock'; task: string; agent: string; depth: number; amount: number; attempt?: number }
  | { action: 'release'; task: string; agent: string; amount: number; reason: string }
  /**
   * Several releases in one transaction (a cascade's batch, settled in that order): ledger.ts reads it as
   * one `release` per bond, each with the batch's reason. One Memo per transaction is what a ledger reads.
   */
  | { action: 'release_batch'; reason: string; bonds: Array<{ task: string; agent: string; amount: number }> }
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
