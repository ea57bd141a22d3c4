/**
 * The one interface the stake code talks to. Two adapters implement it: BankrunChain (in-process SVM,
 * persisted to a file) and RpcChain (any cluster through @solana/web3.js). Transactions are built once
 * (transactions.ts) and fed to either.
 */
import type { Keypair, PublicKey, Transaction } from '@solana/web3.js';

export interface AccountSnapshot {
  lamports: number;
  owner: string;
  dataLength: number;
  /** The account's data (program accounts are read from it). */
  data: Buffer;
}

/** A successful transaction that touched an address, with the Memo it carried (if any). */
export interface MemoRecord {
  signature: string;
  slot: number;
  feePayer: string;
  memo: string | null;
  /** When the transaction's block was produced, in Unix seconds as Solana reports it; null when unknown (an embedded record written before it kept times). */
  blockTime: number | null;
}

export interface SendResult {
  signature: string;
}

export interface ChainPort {
  /** 'embedded' has a faucet and a single-process state file; 'rpc' is a real cluster. */
  readonly kind: 'embedded' | 'rpc';
  /**
   * Sign `tx` with `signers` (the first pays the fee), send it, and return once it is confirmed
   * (and, for the embedded chain, persisted). A rejected transaction throws ChainTransactionError;
   * a transport failure throws whatever the transport threw (both are retryable).
   */
  send(tx: Transaction, signers: Keypair[]): Promise<SendResult>;
  getAccount(address: PublicKey): Promise<AccountSnapshot | null>;
  getAccounts(addresses: PublicKey[]): Promise<Array<AccountSnapshot | null>>;
  /** Lamports of the account, 0 when it does not exist. */
  getLamports(address: PublicKey): Promise<number>;
  /** Embedded: a real transfer from the SVM's genesis faucet. RPC: requestAirdrop (devnet/test validator only). */
  airdrop(address: PublicKey, lamports: number): Promise<SendResult>;
  rentExemptMinimum(dataLength: number): Promise<number>;
  /** Successful transactions that touched `address`, oldest first. */
  getMemoHistory(address: PublicKey): Promise<MemoRecord[]>;
  /**
   * Returns once every signature has reached the finality commitment (finality.ts: `finalized` on a
   * cluster by default). The embedded chain returns at once: its finality is emulated by the commit
   * activity's wait (AGENC_EMBEDDED_FINALITY_MS).
   */
  awaitFinality(signatures: string[]): Promise<void>;
  /** Returns once the chain is past the slot it is in now (a program deployed in a slot runs from the next). */
  nextSlot(): Promise<void>;
  /** Log messages of a transaction this chain processed, if still known. */
  getTransactionLogs(signature: string): Promise<string[] | null>;
  close(): Promise<void>;
}

export const MEMO_PROGRAM_ID = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';
