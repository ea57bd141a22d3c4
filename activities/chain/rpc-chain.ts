/**
 * A real cluster (`SOLANA_RPC_URL`: devnet, a local solana-test-validator, ...) through @solana/web3.js.
 * No local state: memo history is read back from the cluster (getSignaturesForAddress + getTransactions).
 */
import {
  Connection,
  SendTransactionError,
  sendAndConfirmTransaction,
  type Commitment,
  type Keypair,
  type PublicKey,
  type Transaction,
} from '@solana/web3.js';
import type { AccountSnapshot, ChainPort, MemoRecord, SendResult } from './port';
import { MEMO_PROGRAM_ID } from './port';
import { encodeBase58 } from './base58';
import { ChainTransactionError } from './errors';
import { finalityLevel, type FinalityLevel } from './finality';

export interface RpcChainOptions {
  /** What a send waits for before it returns (the transaction has landed); default `confirmed`. */
  commitment?: Commitment;
  /** What awaitFinality waits for; default `$SOLANA_FINALITY` or `finalized`. */
  finality?: FinalityLevel;
  /** Where signature subscriptions go; web3.js's default is the RPC URL's port + 1. */
  wsEndpoint?: string;
}

const MULTIPLE_ACCOUNTS_LIMIT = 100;
const FINALITY_POLL_MS = 500;
const FINALITY_TIMEOUT_MS = 120_000;
const TRANSACTIONS_BATCH = 50;

export class RpcChain implements ChainPort {
  readonly kind = 'rpc' as const;
  readonly connection: Connection;
  private readonly commitment: Commitment;
  readonly finality: FinalityLevel;

  constructor(
    readonly url: string,
    options: RpcChainOptions = {},
  ) {
    this.commitment = options.commitment ?? 'confirmed';
    this.finality = options.finality ?? finalityLevel();
    this.connection = new Connection(url, { commitment: this.commitment, wsEndpoint: options.wsEndpoint });
  }

  async send(tx: Transaction, signers: Keypair[]): Promise<SendResult> {
    try {
      const signature = await sendAndConfirmTransaction(this.connection, tx, signers, {
        commitment: this.commitment,
      });
      return { signature };
    } catch (err) {
      if (err instanceof SendTransactionError) {
        const logs = await err.getLogs(this.connection).catch(() => null);
        throw new ChainTransactionError(err.message, logs ?? null);
      }
      // A transaction that passed preflight but failed on-chain: when the status poll answers before
      // the signature subscription, web3.js rejects with the bare TransactionError object
      // (e.g. {"InstructionError":[0,{"Custom":1}]}), not an Error.
      if (!(err instanceof Error)) {
        const signature = tx.signature ? encodeBase58(tx.signature) : null;
        const logs = signature ? await this.getTransactionLogs(signature).catch(() => null) : null;
        throw new ChainTransactionError(
          `transaction ${signature ?? '(unsigned)'} failed on-chain: ${JSON.stringify(err)}`,
          logs,
        );
      }
      throw err;
    }
  }

  async getAccount(address: PublicKey): Promise<AccountSnapshot | null> {
    const info = await this.connection.getAccountInfo(address, this.commitment);
    return info
      ? { lamports: info.lamports, owner: info.owner.toBase58(), dataLength: info.data.length, data: info.data }
      : null;
  }

  async getAccounts(addresses: PublicKey[]): Promise<Array<AccountSnapshot | null>> {
    const out: Array<AccountSnapshot | null> = [];
    for (let i = 0; i < addresses.length; i += MULTIPLE_ACCOUNTS_LIMIT) {
      const infos = await this.connection.getMultipleAccountsInfo(
        addresses.slice(i, i + MULTIPLE_ACCOUNTS_LIMIT),
        this.commitment,
      );
      for (const info of infos) {
        out.push(
          info
            ? { lamports: info.lamports, owner: info.owner.toBase58(), dataLength: info.data.length, data: info.data }
            : null,
        );
      }
    }
    return out;
  }

  getLamports(address: PublicKey): Promise<number> {
    return this.connection.getBalance(address, this.commitment);
  }

  async airdrop(address: PublicKey, lamports: number): Promise<SendResult> {
    const signature = await this.connection.requestAirdrop(address, lamports);
    const latest = await this.connection.getLatestBlockhash(this.commitment);
    const confirmation = await this.connection.confirmTransaction({ signature, ...latest }, this.commitment);
    if (confirmation.value.err) {
      throw new ChainTransactionError(`airdrop ${signature} failed: ${JSON.stringify(confirmation.value.err)}`, null);
    }
    return { signature };
  }

  rentExemptMinimum(dataLength: number): Promise<number> {
    return this.connection.getMinimumBalanceForRentExemption(dataLength, this.commitment);
  }

  async getMemoHistory(address: PublicKey): Promise<MemoRecord[]> {
    const signatures: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await this.connection.getSignaturesForAddress(address, { before, limit: 1000 }, 'confirmed');
      for (const s of page) if (s.err === null) signatures.push(s.signature);
      const last = page[page.length - 1];
      if (page.length < 1000 || !last) break;
      before = last.signature;
    }
    signatures.reverse(); // oldest first
    const records: MemoRecord[] = [];
    for (let i = 0; i < signatures.length; i += TRANSACTIONS_BATCH) {
      const batch = signatures.slice(i, i + TRANSACTIONS_BATCH);
      const txs = await this.connection.getTransactions(batch, {
        commitment: 'confirmed',
        maxSupportedTransactionVersion: 0,
      });
      txs.forEach((tx, j) => {
        const signature = batch[j]!;
        // A listed signature whose transaction the node cannot return (yet, or any more): skipping it
        // would silently drop a lock or a deposit from the ledger, so fail and let Temporal retry.
        if (!tx)
          throw new Error(
            `${this.url} listed transaction ${signature} for ${address.toBase58()} but returned no transaction for it`,
          );
        if (tx.meta?.err) return;
        const message = tx.transaction.message;
        const keys = message.staticAccountKeys.map((k) => k.toBase58());
        const memoIx = message.compiledInstructions.find((ix) => keys[ix.programIdIndex] === MEMO_PROGRAM_ID);
        records.push({
          signature,
          slot: tx.slot,
          feePayer: keys[0] ?? '',
          memo: memoIx ? Buffer.from(memoIx.data).toString('utf8') : null,
          blockTime: tx.blockTime ?? null,
        });
      });
    }
    return records;
  }

  async nextSlot(): Promise<void> {
    const start = await this.connection.getSlot('confirmed');
    const deadline = Date.now() + FINALITY_TIMEOUT_MS;
    while ((await this.connection.getSlot('confirmed')) <= start) {
      if (Date.now() > deadline)
        throw new Error(`the cluster stayed at slot ${start} for ${FINALITY_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Polls the signatures' statuses until each has reached `finality` (a `finalized` block is rooted by a
   * supermajority, about 13 s after `confirmed` on mainnet). A signature the cluster no longer knows after
   * it was confirmed keeps the poll going until FINALITY_TIMEOUT_MS, then throws (retryable).
   */
  async awaitFinality(signatures: string[]): Promise<void> {
    const deadline = Date.now() + FINALITY_TIMEOUT_MS;
    const rank = { processed: 0, confirmed: 1, finalized: 2 } as const;
    let pending = [...new Set(signatures)];
    while (pending.length) {
      const { value } = await this.connection.getSignatureStatuses(pending, { searchTransactionHistory: true });
      pending = pending.filter((_, i) => {
        const level = value[i]?.confirmationStatus;
        return !level || rank[level] < rank[this.finality];
      });
      if (!pending.length) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${pending.length} transaction(s) not ${this.finality} after ${FINALITY_TIMEOUT_MS / 1000} s: ${pending.join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, FINALITY_POLL_MS));
    }
  }

  async getTransactionLogs(signature: string): Promise<string[] | null> {
    const tx = await this.connection.getTransaction(signature, {
      commitment: 'confirmed',
      maxSupportedTransactionVersion: 0,
    });
    return tx?.meta?.logMessages ?? null;
  }

  async close(): Promise<void> {
    // Connection holds no resources that need releasing.
  }
}
