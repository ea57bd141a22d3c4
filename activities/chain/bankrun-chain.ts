/**
 * The embedded chain: solana-bankrun's in-process SVM running the real System and Memo programs.
 *
 * Durability: before send() returns, a successful transaction is appended to a history log
 * (`<name>.history.jsonl`, the embedded stand-in for a validator's ledger, read by getMemoHistory()),
 * and the accounts the transaction touched, as it left them, are appended to a journal
 * (`<name>.journal.jsonl`), both fsynced. Only what a transaction touched is written, so a send costs
 * the same with ten accounts or ten thousand; every COMPACT_EVERY journal records the whole state is
 * written to `accountsFile` atomically and the journal starts again (and on close()). A restart loads the snapshot,
 * applies the journal records it does not contain (a torn last line from a crash mid-append is
 * ignored), and drops history lines beyond the last transaction whose accounts were written (a crash
 * between the two appends), so accounts and history always agree and nothing is lost.
 *
 * One process owns the state file at a time (a `.lock` file holding its pid); sends are serialised
 * through a promise queue so persistence order equals execution order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keypair, PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { start, type AddedAccount, type ProgramTestContext } from 'solana-bankrun';
import type { AccountSnapshot, ChainPort, MemoRecord, SendResult } from './port';
import { MEMO_PROGRAM_ID } from './port';
import { appendLineDurably, writeFileAtomic } from './atomic-file';
import { encodeBase58 } from './base58';
import { ChainTransactionError, chainFailure } from './errors';

export const DEFAULT_ACCOUNTS_FILE = '.data/chain/svm-accounts.json';

export interface BankrunChainOptions {
  /** Where the accounts snapshot lives; default `.data/chain/svm-accounts.json`. */
  accountsFile?: string;
  /** Journal records between snapshots (default 1000). */
  compactEvery?: number;
}

interface PersistedAccount {
  address: string;
  lamports: string;
  owner: string;
  executable: boolean;
  data: string;
}

interface Snapshot {
  version: 1;
  /** The history sequence number of the last successful transaction whose effects it holds. */
  seq: number;
  /** The last journal record it holds (absent in snapshots written before the journal: 0). */
  journal?: number;
  accounts: PersistedAccount[];
}

/** One processed transaction's effects: the accounts it touched as it left them, and those it closed. */
interface JournalRecord {
  /** Journal sequence: one per processed transaction, failed ones included (they charge a fee). */
  j: number;
  /** The history sequence number after this transaction. */
  seq: number;
  accounts: PersistedAccount[];
  closed: string[];
}

/** How many journal records accumulate before the whole state is written as a snapshot, by default. */
const COMPACT_EVERY = 1000;

interface HistoryEntry extends MemoRecord {
  seq: number;
  accounts: string[];
}

const LOG_CACHE_LIMIT = 1000;

export class BankrunChain implements ChainPort {
  readonly kind = 'embedded' as const;
  readonly accountsFile: string;
  readonly historyFile: string;
  readonly journalFile: string;
  private readonly lockFile: string;
  private readonly tracked = new Set<string>();
  private readonly logs = new Map<string, string[]>();
  /** History entries by every address they touched. */
  private readonly historyByAddress = new Map<string, HistoryEntry[]>();
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    private readonly context: ProgramTestContext,
    files: { accountsFile: string; historyFile: string; journalFile: string; lockFile: string },
    private seq: number,
    private journalSeq: number,
    private journalRecords: number,
    private readonly compactEvery: number,
    history: HistoryEntry[],
    loaded: string[],
  ) {
    this.accountsFile = files.accountsFile;
    this.historyFile = files.historyFile;
    this.journalFile = files.journalFile;
    this.lockFile = files.lockFile;
    for (const address of loaded) this.tracked.add(address);
    for (const entry of history) this.index(entry);
  }

  static async open(options: BankrunChainOptions = {}): Promise<BankrunChain> {
    const accountsFile = path.resolve(options.accountsFile ?? DEFAULT_ACCOUNTS_FILE);
    const historyFile = historyFileFor(accountsFile);
    const journalFile = journalFileFor(accountsFile);
    const lockFile = `${accountsFile}.lock`;
    await fs.promises.mkdir(path.dirname(accountsFile), { recursive: true, mode: 0o700 });
    acquireLock(lockFile);
    try {
      const snapshot = readSnapshot(accountsFile);
      const journal = await readJournal(journalFile, snapshot.journal ?? 0);
      const state = new Map(snapshot.accounts.map((a) => [a.address, a]));
      let seq = snapshot.seq;
      for (const record of journal) {
        for (const a of record.accounts) state.set(a.address, a);
        for (const address of record.closed) state.delete(address);
        seq = record.seq;
      }
      const accounts = [...state.values()];
      const history = await readHistory(historyFile, seq);
      // The SVM logs every instruction at DEBUG to stderr unless told otherwise; read once, at first start.
      process.env.RUST_LOG ??= 'error';
      const genesis: AddedAccount[] = accounts.map((a) => ({
        address: new PublicKey(a.address),
        info: {
          lamports: Number(a.lamports),
          data: Buffer.from(a.data, 'base64'),
          owner: new PublicKey(a.owner),
          executable: a.executable,
          // rentEpoch is not kept: bankrun's JS wrapper reads it as a lossy Number, and every account
          // here is rent-exempt, which the runtime marks again when the account is next written.
        },
      }));
      const context = await start([], genesis);
      const lastSlot = history[history.length - 1]?.slot;
      if (lastSlot !== undefined) context.warpToSlot(BigInt(lastSlot + 1)); // slots keep increasing across restarts
      const journalSeq = journal[journal.length - 1]?.j ?? snapshot.journal ?? 0;
      return new BankrunChain(
        context,
        { accountsFile, historyFile, journalFile, lockFile },
        seq,
        journalSeq,
        journal.length,
        options.compactEvery ?? COMPACT_EVERY,
        history,
        accounts.map((a) => a.address),
      );
    } catch (err) {
      releaseLock(lockFile);
      throw err;
    }
  }

  send(tx: Transaction, signers: Keypair[]): Promise<SendResult> {
    return this.enqueue(() => this.process(tx, signers));
  }

  async getAccount(address: PublicKey): Promise<AccountSnapshot | null> {
    const account = await this.context.banksClient.getAccount(address);
    if (!account) return null;
    return { lamports: account.lamports, owner: account.owner.toBase58(), dataLength: account.data.length };
  }

  getAccounts(addresses: PublicKey[]): Promise<Array<AccountSnapshot | null>> {
    return Promise.all(addresses.map((a) => this.getAccount(a)));
  }

  async getLamports(address: PublicKey): Promise<number> {
    return Number(await this.context.banksClient.getBalance(address));
  }

  /** A real System transfer from the SVM's genesis-funded payer (the faucet), with a Memo. */
  airdrop(address: PublicKey, lamports: number): Promise<SendResult> {
    const faucet = this.context.payer;
    const tx = new Transaction().add(SystemProgram.transfer({ fromPubkey: faucet.publicKey, toPubkey: address, lamports })).add(
      new TransactionInstruction({
        programId: new PublicKey(MEMO_PROGRAM_ID),
        keys: [{ pubkey: faucet.publicKey, isSigner: true, isWritable: false }],
        data: Buffer.from(JSON.stringify({ app: 'agenc', action: 'airdrop', amount: lamports }), 'utf8'),
      }),
    );
    return this.send(tx, [faucet]);
  }

  async rentExemptMinimum(dataLength: number): Promise<number> {
    const rent = await this.context.banksClient.getRent();
    return Number(rent.minimumBalance(BigInt(dataLength)));
  }

  async getMemoHistory(address: PublicKey): Promise<MemoRecord[]> {
    const entries = this.historyByAddress.get(address.toBase58()) ?? [];
    return entries.map(({ signature, slot, feePayer, memo }) => ({ signature, slot, feePayer, memo }));
  }

  async getTransactionLogs(signature: string): Promise<string[] | null> {
    return this.logs.get(signature) ?? null;
  }

  /** Waits for queued sends, writes the whole state as the snapshot, then releases the state file for another process. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    if (this.journalRecords > 0 && !this.failure) await this.compact().catch(() => undefined); // the journal already holds it all
    releaseLock(this.lockFile);
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async process(tx: Transaction, signers: Keypair[]): Promise<SendResult> {
    if (this.closed) throw new Error(`embedded chain ${this.accountsFile} is closed`);
    if (this.failure) {
      throw new Error(`embedded chain state could not be persisted (${this.failure.message}); restart the process to reload ${this.accountsFile}`);
    }
    const feePayer = signers[0];
    if (!feePayer) throw new Error('send() needs at least one signer (the first pays the fee)');
    const client = this.context.banksClient;
    const latest = await client.getLatestBlockhash();
    if (!latest) throw new Error('embedded chain returned no blockhash');
    tx.recentBlockhash = latest[0];
    tx.feePayer = feePayer.publicKey;
    tx.sign(...signers);
    if (!tx.signature) throw new Error('transaction was not signed');
    const signature = encodeBase58(tx.signature);
    const accounts = tx.compileMessage().accountKeys.map((k) => k.toBase58());

    const result = await client.tryProcessTransaction(tx);
    const slot = Number(await client.getSlot());
    // Every transaction gets its own slot (and blockhash), like a real cluster over time.
    this.context.warpToSlot(BigInt(slot + 1));
    const logMessages = result.meta?.logMessages ?? [];
    this.rememberLogs(signature, logMessages);

    const faucet = this.context.payer.publicKey.toBase58();
    for (const a of accounts) if (a !== faucet) this.tracked.add(a);

    try {
      if (result.result === null) {
        this.seq += 1;
        const entry: HistoryEntry = {
          seq: this.seq,
          signature,
          slot,
          feePayer: feePayer.publicKey.toBase58(),
          memo: memoOf(tx),
          accounts,
        };
        await appendLineDurably(this.historyFile, JSON.stringify(entry));
        this.index(entry);
      }
      // A failed transaction still charged its fee, so its effects are written either way.
      await this.journal(accounts.filter((a) => a !== faucet));
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }

    if (result.result !== null) {
      throw new ChainTransactionError(`transaction ${signature} failed: ${result.result}`, logMessages);
    }
    return { signature };
  }

  /** Appends what one transaction left in the accounts it touched; every COMPACT_EVERY records, a snapshot instead. */
  private async journal(touched: string[]): Promise<void> {
    const { accounts, closed } = await this.readAccounts(new Set(touched));
    this.journalSeq += 1;
    this.journalRecords += 1;
    const record: JournalRecord = { j: this.journalSeq, seq: this.seq, accounts, closed };
    await appendLineDurably(this.journalFile, JSON.stringify(record));
    if (this.journalRecords >= this.compactEvery) await this.compact();
  }

  /** Writes the whole state as the snapshot (atomically), then empties the journal it now contains. */
  private async compact(): Promise<void> {
    const { accounts } = await this.readAccounts(this.tracked);
    const snapshot: Snapshot = { version: 1, seq: this.seq, journal: this.journalSeq, accounts };
    await writeFileAtomic(this.accountsFile, `${JSON.stringify(snapshot, null, 1)}\n`);
    // A crash before this line leaves records the snapshot already holds: the next start skips them by `j`.
    await writeFileAtomic(this.journalFile, '');
    this.journalRecords = 0;
  }

  /** The current state of these accounts; closed ones (and programs, which genesis provides) are no longer tracked. */
  private async readAccounts(addresses: Iterable<string>): Promise<{ accounts: PersistedAccount[]; closed: string[] }> {
    const accounts: PersistedAccount[] = [];
    const closed: string[] = [];
    for (const address of [...addresses].sort()) {
      const account = await this.context.banksClient.getAccount(new PublicKey(address));
      if (!account || account.executable) {
        this.tracked.delete(address);
        if (!account) closed.push(address);
        continue;
      }
      accounts.push({
        address,
        lamports: String(account.lamports),
        owner: account.owner.toBase58(),
        executable: false,
        data: Buffer.from(account.data).toString('base64'),
      });
    }
    return { accounts, closed };
  }

  private index(entry: HistoryEntry): void {
    for (const address of new Set(entry.accounts)) {
      const list = this.historyByAddress.get(address);
      if (list) list.push(entry);
      else this.historyByAddress.set(address, [entry]);
    }
  }

  private rememberLogs(signature: string, logMessages: string[]): void {
    this.logs.set(signature, logMessages);
    if (this.logs.size > LOG_CACHE_LIMIT) {
      const oldest = this.logs.keys().next().value;
      if (oldest !== undefined) this.logs.delete(oldest);
    }
  }
}

export function historyFileFor(accountsFile: string): string {
  return `${accountsFile.replace(/\.json$/, '')}.history.jsonl`;
}

export function journalFileFor(accountsFile: string): string {
  return `${accountsFile.replace(/\.json$/, '')}.journal.jsonl`;
}

function memoOf(tx: Transaction): string | null {
  const ix = tx.instructions.find((i) => i.programId.toBase58() === MEMO_PROGRAM_ID);
  return ix ? Buffer.from(ix.data).toString('utf8') : null;
}

function readSnapshot(file: string): Snapshot {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, seq: 0, accounts: [] };
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<Snapshot>;
  if (parsed.version !== 1 || !Array.isArray(parsed.accounts) || typeof parsed.seq !== 'number') {
    throw new Error(`${file} is not an embedded-chain accounts snapshot (version 1); move it aside to start fresh`);
  }
  return parsed as Snapshot;
}

/**
 * The lines of a JSON-lines log that `keep` accepts, in order. A line that does not parse is a torn last
 * line (a crash mid-append: fsync completed every earlier one). When anything was left out, the file is
 * rewritten with what was kept, so the next append starts on a line of its own.
 */
async function readLog<T>(file: string, keep: (entry: T) => boolean): Promise<T[]> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const kept: T[] = [];
  let dropped = false;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let entry: T;
    try {
      entry = JSON.parse(line) as T;
    } catch {
      dropped = true;
      continue;
    }
    if (keep(entry)) kept.push(entry);
    else dropped = true;
  }
  if (dropped) await writeFileAtomic(file, kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
  return kept;
}

/** Journal records after the snapshot's (older ones are in it: a crash between compaction's two writes). */
function readJournal(file: string, afterJournal: number): Promise<JournalRecord[]> {
  return readLog<JournalRecord>(file, (record) => record.j > afterJournal);
}

/** History up to the snapshot's last transaction (later lines were appended, but the crash came before their effects were written). */
function readHistory(file: string, upToSeq: number): Promise<HistoryEntry[]> {
  return readLog<HistoryEntry>(file, (entry) => entry.seq <= upToSeq);
}

function acquireLock(lockFile: string): void {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw chainFailure(
          'ChainStateLocked',
          `embedded chain state ${lockFile.replace(/\.lock$/, '')} is in use by process ${holder}` +
            (holder === process.pid ? ' (this process: close() the other BankrunChain first)' : '') +
            '; run chain operations through that process (the worker) or stop it first',
        );
      }
      fs.rmSync(lockFile, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`could not take the embedded chain lock ${lockFile}`);
}

function releaseLock(lockFile: string): void {
  try {
    if (Number(fs.readFileSync(lockFile, 'utf8').trim()) === process.pid) fs.rmSync(lockFile, { force: true });
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
