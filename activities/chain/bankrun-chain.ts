/**
 * The embedded chain: solana-bankrun's in-process SVM running the real System and Memo programs.
 *
 * Durability: before send() returns, a successful transaction is appended to a history log
 * (`<name>.history.jsonl`, the embedded stand-in for a validator's ledger, read by getMemoHistory()),
 * and the accounts the transaction touched, as it left them, are appended to a journal
 * (`<name>.journal.jsonl`), both fsynced. Only what a transaction touched is written, so a send costs
 * the same with ten accounts or ten thousand; every COMPACT_EVERY journal records the whole state is
 * written to `accountsFile` atomically and the journal starts again (and on close()). A restart loads the snapshot,
 * applies the journal records it does not contain, and drops history lines beyond the last transaction
 * whose accounts were written (a crash between the two appends), so accounts and history always agree
 * and nothing acknowledged is lost. Both logs are read a line at a time (json-lines.ts): a last line cut
 * short by a crash mid-append is dropped with a warning; damage anywhere else refuses the open, naming
 * the file and the line, since the state can no longer be trusted.
 *
 * One process owns the state file at a time (state-lock.ts: a lock the kernel releases when its holder
 * dies); sends are serialised through a promise queue so persistence order equals execution order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keypair, PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { Clock, start, type AddedAccount, type ProgramTestContext } from 'solana-bankrun';
import type { AccountSnapshot, ChainPort, MemoRecord, SendResult } from './port';
import { MEMO_PROGRAM_ID } from './port';
import { BPF_LOADER_UPGRADEABLE_ID } from './program-deploy';
import { appendLineDurably, writeFileAtomic } from './atomic-file';
import { encodeBase58 } from './base58';
import { ChainTransactionError } from './errors';
import { scanJsonLines, truncateDurably, type LogName } from './json-lines';
import { acquireStateLock, type StateLock } from './state-lock';
import { DEFAULT_ACCOUNTS_FILE, historyFileFor, journalFileFor } from './chain-files';

export interface BankrunChainOptions {
  /** Where the accounts snapshot lives; default `.data/chain/svm-accounts.json`. */
  accountsFile?: string;
  /** Journal records between snapshots (default 1000). */
  compactEvery?: number;
  /** What opening recovered from (a record a crash cut short, dropped); default process.emitWarning. */
  warn?: (message: string) => void;
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

/** The history at open: what getMemoHistory() serves, by every address each transaction touched. */
interface HistoryIndex {
  byAddress: Map<string, MemoRecord[]>;
  lastSlot: number | undefined;
}

const LOG_CACHE_LIMIT = 1000;

/** Owner of deployed (upgradeable) programs and their programdata: persisted like any other account. */
const UPGRADEABLE_LOADER = BPF_LOADER_UPGRADEABLE_ID.toBase58();
/** Owner of the sysvars (a deploy passes Rent and Clock): the runtime provides them, they are not persisted. */
const SYSVAR_OWNER = 'Sysvar1111111111111111111111111111111111111';

export class BankrunChain implements ChainPort {
  readonly kind = 'embedded' as const;
  readonly accountsFile: string;
  readonly historyFile: string;
  readonly journalFile: string;
  private readonly tracked = new Set<string>();
  private readonly logs = new Map<string, string[]>();
  /** History records by every address they touched (seq and accounts are left out: nothing reads them back). */
  private readonly historyByAddress: Map<string, MemoRecord[]>;
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    private readonly context: ProgramTestContext,
    files: { accountsFile: string; historyFile: string; journalFile: string },
    private readonly lock: StateLock,
    private seq: number,
    private journalSeq: number,
    private journalRecords: number,
    private readonly compactEvery: number,
    history: HistoryIndex,
    loaded: string[],
  ) {
    this.accountsFile = files.accountsFile;
    this.historyFile = files.historyFile;
    this.journalFile = files.journalFile;
    this.historyByAddress = history.byAddress;
    for (const address of loaded) this.tracked.add(address);
  }

  static async open(options: BankrunChainOptions = {}): Promise<BankrunChain> {
    const accountsFile = path.resolve(options.accountsFile ?? DEFAULT_ACCOUNTS_FILE);
    const historyFile = historyFileFor(accountsFile);
    const journalFile = journalFileFor(accountsFile);
    const warn = options.warn ?? ((message: string) => process.emitWarning(message, { type: 'EmbeddedChainWarning' }));
    const stateFiles = `${accountsFile.replace(/\.json$/, '')}.*`;
    await fs.promises.mkdir(path.dirname(accountsFile), { recursive: true, mode: 0o700 });
    const lock = await acquireStateLock(accountsFile, warn);
    try {
      const snapshot = readSnapshot(accountsFile);
      const journal = await readJournal(journalFile, { kind: 'journal', stateFiles }, snapshot.journal ?? 0, warn);
      const state = new Map(snapshot.accounts.map((a) => [a.address, a]));
      let seq = snapshot.seq;
      for (const record of journal) {
        for (const a of record.accounts) state.set(a.address, a);
        for (const address of record.closed) state.delete(address);
        seq = record.seq;
      }
      const accounts = [...state.values()];
      const history = await readHistory(historyFile, { kind: 'history', stateFiles }, seq, warn);
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
      if (history.lastSlot !== undefined) context.warpToSlot(BigInt(history.lastSlot + 1)); // slots keep increasing across restarts
      const journalSeq = journal[journal.length - 1]?.j ?? snapshot.journal ?? 0;
      return new BankrunChain(
        context,
        { accountsFile, historyFile, journalFile },
        lock,
        seq,
        journalSeq,
        journal.length,
        options.compactEvery ?? COMPACT_EVERY,
        history,
        accounts.map((a) => a.address),
      );
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  send(tx: Transaction, signers: Keypair[]): Promise<SendResult> {
    return this.enqueue(() => this.process(tx, signers));
  }

  async getAccount(address: PublicKey): Promise<AccountSnapshot | null> {
    const account = await this.context.banksClient.getAccount(address);
    if (!account) return null;
    return {
      lamports: account.lamports,
      owner: account.owner.toBase58(),
      dataLength: account.data.length,
      data: Buffer.from(account.data),
    };
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
    const tx = new Transaction()
      .add(SystemProgram.transfer({ fromPubkey: faucet.publicKey, toPubkey: address, lamports }))
      .add(
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
    // Copies: the index is the chain's own (indexHistory keeps exactly a MemoRecord's fields).
    return entries.map((record) => ({ ...record }));
  }

  /**
   * Moves the chain's clock (the Clock sysvar's unix_timestamp) `seconds` ahead: what a cluster's time
   * does on its own. Tests of time rules (a bond's expiry) use it; it is not persisted (a restart starts
   * from the SVM's own clock again).
   */
  async warpClock(seconds: number): Promise<void> {
    const c = await this.context.banksClient.getClock();
    this.context.setClock(
      new Clock(c.slot, c.epochStartTimestamp, c.epoch, c.leaderScheduleEpoch, c.unixTimestamp + BigInt(seconds)),
    );
  }

  /** Every send here ends in a slot of its own already. */
  async nextSlot(): Promise<void> {}

  /** Every processed transaction is final here; the commit activity emulates a cluster's wait. */
  async awaitFinality(): Promise<void> {}

  async getTransactionLogs(signature: string): Promise<string[] | null> {
    return this.logs.get(signature) ?? null;
  }

  /** Waits for queued sends, writes the whole state as the snapshot, then releases the state file for another process. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    if (this.journalRecords > 0 && !this.failure) await this.compact().catch(() => undefined); // the journal already holds it all
    await this.lock.release();
  }

  /**
   * Lets go of the state as a kill -9 would: nothing more is written (no snapshot; the journal stays as
   * it is) and the lock is freed. Crash tests reopen from exactly what a killed process leaves on disk.
   */
  async abandon(): Promise<void> {
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.lock.release();
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async process(tx: Transaction, signers: Keypair[]): Promise<SendResult> {
    if (this.closed) throw new Error(`embedded chain ${this.accountsFile} is closed`);
    if (this.failure) {
      throw new Error(
        `embedded chain state could not be persisted (${this.failure.message}); restart the process to reload ${this.accountsFile}`,
      );
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
    if (result.result === null) await keepDeployedProgramsRunnable(this.context, accounts);

    try {
      if (result.result === null) {
        this.seq += 1;
        const entry: HistoryEntry = {
          seq: this.seq,
          signature,
          slot,
          feePayer: feePayer.publicKey.toBase58(),
          memo: memoOf(tx),
          // The embedded chain's block time is the moment it executed the transaction.
          blockTime: Math.floor(Date.now() / 1000),
          accounts,
        };
        await appendLineDurably(this.historyFile, JSON.stringify(entry));
        indexHistory(this.historyByAddress, entry);
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

  /**
   * The current state of these accounts; closed ones (and what genesis provides: builtin and bundled
   * programs, sysvars) are no longer tracked. Programs deployed through the upgradeable loader are kept,
   * executable flag and all, so they come back (with their programdata) as genesis accounts on open().
   */
  private async readAccounts(addresses: Iterable<string>): Promise<{ accounts: PersistedAccount[]; closed: string[] }> {
    const accounts: PersistedAccount[] = [];
    const closed: string[] = [];
    for (const address of [...addresses].sort()) {
      const account = await this.context.banksClient.getAccount(new PublicKey(address));
      const owner = account?.owner.toBase58();
      if (!account || (account.executable && owner !== UPGRADEABLE_LOADER) || owner === SYSVAR_OWNER) {
        this.tracked.delete(address);
        if (!account) closed.push(address);
        continue;
      }
      accounts.push({
        address,
        lamports: String(account.lamports),
        owner: account.owner.toBase58(),
        executable: account.executable,
        data: Buffer.from(account.data).toString('base64'),
      });
    }
    return { accounts, closed };
  }

  private rememberLogs(signature: string, logMessages: string[]): void {
    this.logs.set(signature, logMessages);
    if (this.logs.size > LOG_CACHE_LIMIT) {
      const oldest = this.logs.keys().next().value;
      if (oldest !== undefined) this.logs.delete(oldest);
    }
  }
}

/**
 * Works around the program cache of solana-bankrun 0.4 (runtime 1.18.0): a program deployed through
 * the upgradeable loader runs in the slot after its deploy, but the first transaction that uses it
 * after any later warp never returns (the banks server's deadline). With the deployment slot in its
 * programdata set to 0, as solana-program-test and the test validator do for upgradeable programs in
 * genesis, it keeps working across warps and restarts. Run after every successful transaction
 * (`accounts`: the ones it touched); only one that involved the loader changes anything. Used by the
 * embedded chain and by the tests' SVM-backed JSON-RPC server.
 */
export async function keepDeployedProgramsRunnable(context: ProgramTestContext, accounts: string[]): Promise<void> {
  if (!accounts.includes(UPGRADEABLE_LOADER)) return;
  for (const address of accounts) {
    const key = new PublicKey(address);
    const account = await context.banksClient.getAccount(key);
    // ProgramData { slot: u64, upgrade_authority_address: Option<Pubkey> }: bincode tag 3, then the slot.
    if (account?.owner.toBase58() !== UPGRADEABLE_LOADER || account.data.length < 12) continue;
    const data = Buffer.from(account.data);
    if (data.readUInt32LE(0) !== 3 || data.readBigUInt64LE(4) === 0n) continue;
    data.writeBigUInt64LE(0n, 4);
    context.setAccount(key, { ...account, data });
  }
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

/** Journal records after the snapshot's (older ones are in it: a crash between compaction's two writes; the next compaction empties them). */
async function readJournal(
  file: string,
  name: LogName,
  afterJournal: number,
  warn: (message: string) => void,
): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  let last: JournalRecord | undefined;
  const scan = await scanJsonLines(file, name, (value) => {
    const problem = journalRecordProblem(value);
    if (problem) return problem;
    const record = value as JournalRecord;
    if (last && record.j <= last.j) return `its j ${record.j} does not follow j ${last.j} on the line before`;
    if (last && record.seq < last.seq) return `its seq ${record.seq} goes back from seq ${last.seq} on the line before`;
    last = record;
    if (record.j > afterJournal) records.push(record);
    return undefined;
  });
  if (scan.torn) {
    warn(
      `embedded chain journal ${file} line ${scan.torn.line}: dropped a record cut short by a crash mid-append (${scan.torn.reason}); its transaction was never acknowledged`,
    );
    await truncateDurably(file, scan.end);
  }
  return records;
}

/**
 * The history up to the last transaction whose accounts were written, indexed as it is read. Later
 * lines were appended, but the crash came before their effects were written: they are cut off.
 */
async function readHistory(
  file: string,
  name: LogName,
  upToSeq: number,
  warn: (message: string) => void,
): Promise<HistoryIndex> {
  const index: HistoryIndex = { byAddress: new Map(), lastSlot: undefined };
  let lastSeq = 0;
  let beyond: { line: number; offset: number; count: number } | undefined;
  const scan = await scanJsonLines(file, name, (value, at) => {
    const problem = historyEntryProblem(value);
    if (problem) return problem;
    const entry = value as HistoryEntry;
    if (entry.seq <= lastSeq) return `its seq ${entry.seq} does not follow seq ${lastSeq} on the line before`;
    lastSeq = entry.seq;
    if (entry.seq > upToSeq) {
      beyond ??= { ...at, count: 0 };
      beyond.count += 1;
    } else {
      indexHistory(index.byAddress, entry);
      index.lastSlot = entry.slot;
    }
    return undefined;
  });
  if (beyond) {
    warn(
      `embedded chain history ${file} line ${beyond.line}: dropped ${beyond.count} record(s) from there on, of transactions whose accounts ` +
        'were never written (a crash between the two appends); none was acknowledged',
    );
  }
  if (scan.torn) {
    warn(
      `embedded chain history ${file} line ${scan.torn.line}: dropped a record cut short by a crash mid-append (${scan.torn.reason}); its transaction was never acknowledged`,
    );
  }
  if (beyond || scan.torn) await truncateDurably(file, beyond ? beyond.offset : scan.end);
  return index;
}

function indexHistory(byAddress: Map<string, MemoRecord[]>, entry: HistoryEntry): void {
  const record: MemoRecord = {
    signature: entry.signature,
    slot: entry.slot,
    feePayer: entry.feePayer,
    memo: entry.memo,
    // Absent in records written before block times were kept.
    blockTime: entry.blockTime ?? null,
  };
  for (const address of new Set(entry.accounts)) {
    const list = byAddress.get(address);
    if (list) list.push(record);
    else byAddress.set(address, [record]);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min: number): boolean => Number.isSafeInteger(v) && (v as number) >= min;
const isStrings = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');

function historyEntryProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'it is not a JSON object';
  if (!isCount(v.seq, 1)) return 'it has no seq (a whole number from 1)';
  if (typeof v.signature !== 'string' || typeof v.feePayer !== 'string') return 'it has no signature or fee payer';
  if (!isCount(v.slot, 0)) return 'it has no slot';
  if (v.memo !== null && typeof v.memo !== 'string') return 'its memo is neither text nor null';
  if (v.blockTime !== undefined && v.blockTime !== null && !isCount(v.blockTime, 0))
    return 'its block time is neither a whole number of seconds nor null';
  if (!isStrings(v.accounts)) return 'it has no list of accounts';
  return undefined;
}

function journalRecordProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'it is not a JSON object';
  if (!isCount(v.j, 1)) return 'it has no j (a whole number from 1)';
  if (!isCount(v.seq, 0)) return 'it has no seq';
  if (!isStrings(v.closed)) return 'it has no list of closed accounts';
  if (!Array.isArray(v.accounts)) return 'it has no list of accounts';
  const bad = v.accounts.findIndex(
    (a) =>
      !isObject(a) ||
      typeof a.address !== 'string' ||
      typeof a.lamports !== 'string' ||
      !/^\d+$/.test(a.lamports) ||
      typeof a.owner !== 'string' ||
      typeof a.executable !== 'boolean' ||
      typeof a.data !== 'string',
  );
  return bad === -1 ? undefined : `its account ${bad} is not an account (address, lamports, owner, executable, data)`;
}
