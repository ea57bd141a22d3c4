/**
 * A Solana JSON-RPC endpoint for tests, backed by solana-bankrun's real SVM, so RpcChain and
 * @solana/web3.js run end to end without a validator binary. It answers the methods RpcChain and
 * web3.js's send/confirm path call, in the shapes a validator gives, and nothing else (-32601).
 *
 * Where it differs from a validator, on purpose: a transaction is final as soon as it lands, so commitment
 * arguments are accepted and ignored; blocks are made on demand (the SVM warped one slot on) when a
 * request comes at least a block time after the last one; legacy transactions only. What the SVM lacks
 * is done here: it keeps no per-address index (signature history is recorded as transactions land), it
 * checks no signatures (they are verified before it sees a transaction), and its background clock retires
 * a blockhash within about two seconds, while clients such as web3.js reuse one for 30 s: a blockhash
 * this server handed out stays good for MAX_PROCESSING_AGE blocks, as on a validator, and the SVM runs
 * the transaction under its own current blockhash. Binds 127.0.0.1 on a port the OS picks (no free-port
 * race); WebSocket subscriptions share that port.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import {
  PublicKey,
  SystemProgram,
  Transaction,
  VersionedTransaction,
  type Message,
  type VersionedMessage,
} from '@solana/web3.js';
import { start, type BanksTransactionMeta, type ProgramTestContext } from 'solana-bankrun';
import { decodeBase58, encodeBase58 } from '../../activities/chain/base58';
import { MEMO_PROGRAM_ID } from '../../activities/chain/port';
import { keepDeployedProgramsRunnable } from '../../activities/chain/bankrun-chain';

export interface SvmRpcServer {
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

type Id = string | number | null;
type TxError = string | { InstructionError: [number, string | { Custom: number }] };

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface TxRecord {
  tx: VersionedTransaction;
  slot: number;
  blockTime: number;
  err: TxError | null;
  fee: number;
  preBalances: number[];
  postBalances: number[];
  logs: string[];
  unitsConsumed: number;
}

/** A cluster's block time: blockhashes age with the clock, as web3.js's 30 s blockhash cache assumes. */
const SLOT_MS = 400;
/** Blocks a blockhash stays usable for on a validator (agave's MAX_PROCESSING_AGE). */
const MAX_PROCESSING_AGE = 150;
const MEMO_PROGRAMS = new Set([MEMO_PROGRAM_ID, 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo']);

export async function startSvmRpcServer(): Promise<SvmRpcServer> {
  process.env.RUST_LOG ??= 'error'; // the SVM logs every instruction to stderr otherwise
  const svm = new SvmRpc(await start([], []));
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    req.on('error', () => res.destroy()); // a client gone mid-request must not take the server down
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void svm.handleBody(Buffer.concat(chunks).toString('utf8')).then((body) => {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      });
    });
  });
  const wss = new WebSocket.Server({ server });
  wss.on('connection', (socket) => svm.attach(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    async close() {
      // web3.js closes an idle socket itself within 500 ms. Closing it first, or with a code other than 1000,
      // while it still tracks a subscription makes it reconnect to the dead port forever.
      const leaving = [...wss.clients].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
      const force = setTimeout(() => wss.clients.forEach((socket) => socket.close(1000)), 2000);
      await Promise.all(leaving).finally(() => clearTimeout(force));
      await new Promise((resolve) => wss.close(resolve));
      server.closeAllConnections(); // web3.js keeps HTTP connections alive
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

class SvmRpc {
  private readonly records = new Map<string, TxRecord>();
  /** Signatures by every account their transaction loaded, oldest first. */
  private readonly history = new Map<string, string[]>();
  /** Blockhashes handed out, with the last block height a transaction using one may land in. */
  private readonly issued = new Map<string, number>();
  private readonly subscriptions = new Map<number, { socket: WebSocket; signature: string }>();
  private nextSubscription = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private lastBlockAt = Date.now();
  private readonly methods: Record<string, (params: unknown[]) => Promise<unknown>>;

  constructor(private readonly context: ProgramTestContext) {
    const client = context.banksClient;
    const withContext = async (value: unknown) => ({ context: { slot: Number(await client.getSlot()) }, value });
    this.methods = {
      getBlockHeight: async () => Number(await client.getBlockHeight()),
      // Through the queue, whose tick makes the next block when a slot's time has passed.
      getSlot: () => this.serial(async () => Number(await client.getSlot())),
      getLatestBlockhash: () =>
        this.serial(async () => {
          const [blockhash] = (await client.getLatestBlockhash()) ?? [''];
          const height = Number(await client.getBlockHeight());
          for (const [hash, last] of this.issued) if (last < height) this.issued.delete(hash);
          this.issued.set(blockhash, height + MAX_PROCESSING_AGE);
          return withContext({ blockhash, lastValidBlockHeight: height + MAX_PROCESSING_AGE });
        }),
      getMinimumBalanceForRentExemption: async (p) =>
        Number((await client.getRent()).minimumBalance(BigInt(integer(p[0], 'dataLength')))),
      getBalance: async (p) => withContext(Number(await client.getBalance(address(p[0])))),
      getAccountInfo: async (p) => withContext(await this.account(p[0], options(p[1]))),
      getMultipleAccounts: async (p) =>
        withContext(await Promise.all(list(p[0]).map((a) => this.account(a, options(p[1]))))),
      getSignatureStatuses: async (p) =>
        withContext(
          list(p[0]).map((s) => {
            const r = typeof s === 'string' ? this.records.get(s) : undefined;
            return r
              ? {
                  slot: r.slot,
                  confirmations: null,
                  err: r.err,
                  status: status(r.err),
                  confirmationStatus: 'finalized',
                }
              : null;
          }),
        ),
      getSignaturesForAddress: async (p) => this.signaturesFor(address(p[0]), options(p[1])),
      getTransaction: async (p) => this.transaction(text(p[0], 'signature'), options(p[1])),
      sendTransaction: async (p) => {
        const config = options(p[1]);
        const encoded = text(p[0], 'transaction');
        const encoding = config.encoding ?? 'base58';
        if (encoding !== 'base58' && encoding !== 'base64')
          throw invalidParams(`unsupported encoding: ${String(encoding)}`);
        let tx: VersionedTransaction;
        try {
          tx = VersionedTransaction.deserialize(
            encoding === 'base64' ? Buffer.from(encoded, 'base64') : decodeBase58(encoded),
          );
        } catch (err) {
          throw invalidParams(`invalid transaction: ${(err as Error).message}`);
        }
        // RpcChain sends legacy transactions only; v0 would need lookup tables resolved and bankrun cannot price it.
        if (tx.version !== 'legacy') throw invalidParams('only legacy transactions are supported by this test server');
        return this.serial(() => this.submit(tx, config.skipPreflight === true));
      },
      // A real transfer from bankrun's genesis-funded payer, as a test validator's faucet makes.
      requestAirdrop: async (p) => {
        const to = address(p[0]);
        const lamports = integer(p[1], 'lamports');
        return this.serial(async () => {
          const faucet = context.payer;
          for (;;) {
            const [recentBlockhash] = (await client.getLatestBlockhash()) ?? [''];
            const tx = new Transaction({ feePayer: faucet.publicKey, recentBlockhash });
            tx.add(SystemProgram.transfer({ fromPubkey: faucet.publicKey, toPubkey: to, lamports })).sign(faucet);
            const wire = VersionedTransaction.deserialize(tx.serialize());
            // The same airdrop twice in one block is the same transaction: the second goes in the next block.
            if (!this.records.has(signatureOf(wire))) return this.submit(wire, false);
            await this.nextBlock();
          }
        });
      },
    };
  }

  async handleBody(body: string): Promise<string> {
    const parsed = parseJson(body);
    if (parsed instanceof RpcError) return JSON.stringify(failure(null, parsed));
    if (!Array.isArray(parsed)) {
      const response = await this.call(parsed);
      return response ? JSON.stringify(response) : ''; // a notification gets no answer
    }
    if (parsed.length === 0) return JSON.stringify(failure(null, new RpcError(-32600, 'Invalid request')));
    const responses: object[] = [];
    for (const request of parsed) {
      const response = await this.call(request); // in order: web3.js pairs batch answers by position
      if (response) responses.push(response);
    }
    return JSON.stringify(responses);
  }

  attach(socket: WebSocket): void {
    socket.on('message', (data) => {
      const request = parseJson(String(data));
      if (request instanceof RpcError) return send(socket, failure(null, request));
      const { id, method, params } = Object(request) as { id?: Id; method?: unknown; params?: unknown };
      if (id === undefined) return; // a notification: web3.js pings every 5 s
      try {
        const args = list(params ?? []);
        if (method === 'signatureSubscribe') {
          const signature = text(args[0], 'signature');
          const subscription = ++this.nextSubscription;
          this.subscriptions.set(subscription, { socket, signature });
          send(socket, { jsonrpc: '2.0', id, result: subscription });
          const record = this.records.get(signature);
          if (record) this.notify(subscription, record);
        } else if (method === 'signatureUnsubscribe') {
          if (!this.subscriptions.delete(Number(args[0]))) throw new RpcError(-32602, 'Invalid subscription id.');
          send(socket, { jsonrpc: '2.0', id, result: true });
        } else throw new RpcError(-32601, `Method not found: ${String(method)}`);
      } catch (err) {
        send(socket, failure(id, err instanceof RpcError ? err : new RpcError(-32603, String(err))));
      }
    });
    socket.on('error', () => socket.terminate()); // unhandled, a bad frame would throw
    socket.on('close', () => {
      for (const [id, s] of this.subscriptions) if (s.socket === socket) this.subscriptions.delete(id);
    });
  }

  private async call(request: unknown): Promise<object | undefined> {
    const { jsonrpc, id, method, params } = Object(request) as {
      jsonrpc?: unknown;
      id?: Id;
      method?: unknown;
      params?: unknown;
    };
    if (jsonrpc !== '2.0' || typeof method !== 'string')
      return failure(id ?? null, new RpcError(-32600, 'Invalid request'));
    try {
      const handler = Object.hasOwn(this.methods, method) ? this.methods[method] : undefined;
      if (!handler) throw new RpcError(-32601, `Method not found: ${method}`);
      const result = await withDeadline(handler(list(params ?? [])));
      return id === undefined ? undefined : { jsonrpc: '2.0', id, result };
    } catch (err) {
      const error = err instanceof RpcError ? err : new RpcError(-32603, `Internal error: ${(err as Error).message}`);
      return id === undefined ? undefined : failure(id, error);
    }
  }

  /** Changes to the SVM run one at a time, so a transaction's slot and balances are its own. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => withDeadline(this.tick().then(op)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async tick(): Promise<void> {
    if (Date.now() - this.lastBlockAt >= SLOT_MS) await this.nextBlock();
  }

  private async nextBlock(): Promise<void> {
    this.context.warpToSlot((await this.context.banksClient.getSlot()) + 1n);
    this.lastBlockAt = Date.now();
  }

  private async submit(tx: VersionedTransaction, skipPreflight: boolean): Promise<string> {
    const client = this.context.banksClient;
    const signature = signatureOf(tx);
    if (this.records.has(signature)) throw preflightFailure('This transaction has already been processed', null);
    if (!Transaction.from(tx.serialize()).verifySignatures())
      throw new RpcError(-32003, 'Transaction signature verification failure');
    const lastValid = this.issued.get(tx.message.recentBlockhash);
    if (lastValid !== undefined && Number(await client.getBlockHeight()) > lastValid)
      throw preflightFailure('Blockhash not found', null);
    // A blockhash not issued here (a durable nonce, say) goes to the SVM as it is, to be judged there.
    const run = VersionedTransaction.deserialize(tx.serialize());
    if (lastValid !== undefined) run.message.recentBlockhash = (await client.getLatestBlockhash())?.[0] ?? '';
    if (!skipPreflight) {
      const simulated = await client.simulateTransaction(run);
      if (simulated.result !== null) throw preflightFailure(simulated.result, simulated.meta);
    }
    const keys = tx.message.staticAccountKeys;
    const balances = () => Promise.all(keys.map(async (k) => Number(await client.getBalance(k))));
    const fee = Number((await client.getFeeForMessage(run.message as Message)) ?? 0n);
    const preBalances = await balances();
    const result = await client.tryProcessTransaction(run);
    if (result.result === null)
      await keepDeployedProgramsRunnable(
        this.context,
        keys.map((k) => k.toBase58()),
      );
    const landed = await client.getTransactionStatus(signature);
    // A validator would accept it and drop it unseen; saying so now spares the client a wait for expiry.
    if (!landed) throw preflightFailure(result.result ?? 'Transaction was not processed', result.meta);
    const record: TxRecord = {
      tx,
      slot: Number(landed.slot),
      blockTime: Math.floor(Date.now() / 1000),
      fee,
      preBalances,
      postBalances: await balances(),
      err: result.result === null ? null : txError(result.result),
      logs: result.meta?.logMessages ?? [],
      unitsConsumed: Number(result.meta?.computeUnitsConsumed ?? 0n),
    };
    this.records.set(signature, record);
    for (const key of new Set(keys.map((k) => k.toBase58())))
      this.history.set(key, [...(this.history.get(key) ?? []), signature]);
    for (const [id, s] of this.subscriptions) if (s.signature === signature) this.notify(id, record);
    return signature;
  }

  /** A signature subscription ends with its one notification, as on a validator. */
  private notify(subscription: number, record: TxRecord): void {
    const s = this.subscriptions.get(subscription);
    if (!s) return;
    this.subscriptions.delete(subscription);
    const result = { context: { slot: record.slot }, value: { err: record.err } };
    send(s.socket, { jsonrpc: '2.0', method: 'signatureNotification', params: { result, subscription } });
  }

  private async account(value: unknown, config: Record<string, unknown>): Promise<object | null> {
    const encoding = config.encoding ?? 'base58';
    if (encoding !== 'base58' && encoding !== 'base64')
      throw invalidParams(`unsupported encoding: ${String(encoding)}`);
    const info = await this.context.banksClient.getAccount(address(value));
    if (!info) return null;
    const data = encoding === 'base64' ? Buffer.from(info.data).toString('base64') : encodeBase58(info.data);
    const { executable, lamports, rentEpoch } = info;
    return {
      data: [data, encoding],
      executable,
      lamports,
      owner: info.owner.toBase58(),
      rentEpoch,
      space: info.data.length,
    };
  }

  private signaturesFor(key: PublicKey, config: Record<string, unknown>): object[] {
    const limit = config.limit === undefined ? 1000 : integer(config.limit, 'limit');
    if (limit < 1 || limit > 1000) throw invalidParams('Invalid limit; max 1000');
    let newestFirst = [...(this.history.get(key.toBase58()) ?? [])].reverse();
    if (typeof config.before === 'string') {
      const i = newestFirst.indexOf(config.before);
      newestFirst = i < 0 ? [] : newestFirst.slice(i + 1); // a validator answers nothing for an unknown `before`
    }
    const until = typeof config.until === 'string' ? newestFirst.indexOf(config.until) : -1;
    if (until >= 0) newestFirst = newestFirst.slice(0, until);
    return newestFirst.slice(0, limit).flatMap((signature) => {
      const r = this.records.get(signature);
      const memo = r && memoOf(r.tx.message);
      return r
        ? [{ signature, slot: r.slot, err: r.err, memo, blockTime: r.blockTime, confirmationStatus: 'finalized' }]
        : [];
    });
  }

  private transaction(signature: string, config: Record<string, unknown>): object | null {
    const r = this.records.get(signature);
    if (!r) return null;
    const { message } = r.tx;
    if ((config.encoding ?? 'json') !== 'json') throw invalidParams(`unsupported encoding: ${String(config.encoding)}`);
    const { slot, blockTime, err, fee, preBalances, postBalances } = r;
    const instructions = message.compiledInstructions.map((ix) => {
      const { programIdIndex, accountKeyIndexes: accounts, data } = ix;
      return { programIdIndex, accounts, data: encodeBase58(data), stackHeight: null };
    });
    const { header, recentBlockhash } = message;
    const accountKeys = message.staticAccountKeys.map((k) => k.toBase58());
    return {
      slot,
      blockTime,
      // A validator names the version only to clients that said which versions they support.
      ...(config.maxSupportedTransactionVersion === undefined ? {} : { version: 'legacy' }),
      transaction: {
        signatures: r.tx.signatures.map(encodeBase58),
        message: { accountKeys, header, recentBlockhash, instructions },
      },
      meta: {
        err,
        status: status(err),
        fee,
        preBalances,
        postBalances,
        rewards: [],
        logMessages: r.logs,
        // The SVM does not report these; null says "not recorded" rather than "none".
        innerInstructions: null,
        preTokenBalances: null,
        postTokenBalances: null,
        loadedAddresses: { writable: [], readonly: [] },
        computeUnitsConsumed: r.unitsConsumed,
      },
    };
  }
}

/** The error a validator's preflight gives; web3.js turns it into SendTransactionError carrying these logs. */
function preflightFailure(message: string, meta: BanksTransactionMeta | null): RpcError {
  const logs = meta?.logMessages ?? [];
  const unitsConsumed = Number(meta?.computeUnitsConsumed ?? 0n);
  const data = {
    accounts: null,
    err: txError(message),
    innerInstructions: null,
    logs,
    replacementBlockhash: null,
    returnData: null,
    unitsConsumed,
  };
  return new RpcError(-32002, `Transaction simulation failed: ${message}`, data);
}

/**
 * bankrun reports a TransactionError as its Display text. Instruction errors get the validator's JSON shape
 * (the one callers match on); other errors keep the text, which web3.js accepts wherever an error name goes.
 */
function txError(message: string): TxError {
  const ix = /^Error processing Instruction (\d+): (.*)$/.exec(message);
  if (!ix) return message;
  const custom = /^custom program error: 0x([0-9a-f]+)$/.exec(ix[2] ?? '');
  return { InstructionError: [Number(ix[1]), custom ? { Custom: parseInt(custom[1] ?? '0', 16) } : (ix[2] ?? '')] };
}

function signatureOf(tx: VersionedTransaction): string {
  return encodeBase58(tx.signatures[0] ?? new Uint8Array(64));
}

function status(err: TxError | null): object {
  return err === null ? { Ok: null } : { Err: err };
}

/** Memos as a validator's signature index shows them: "[byte length] text", joined by "; ". */
function memoOf(message: VersionedMessage): string | null {
  const keys = message.staticAccountKeys.map((k) => k.toBase58());
  const memos = message.compiledInstructions
    .filter((ix) => MEMO_PROGRAMS.has(keys[ix.programIdIndex] ?? ''))
    .map((ix) => `[${ix.data.length}] ${Buffer.from(ix.data).toString('utf8')}`);
  return memos.length ? memos.join('; ') : null;
}

function failure(id: Id, { code, message, data }: RpcError): object {
  return { jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } };
}

function send(socket: WebSocket, message: object): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

/** A panic inside bankrun leaves its promise pending forever: answer with an error rather than hang client and queue. */
function withDeadline<T>(work: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RpcError(-32603, `Internal error: the SVM did not answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new RpcError(-32700, 'Parse error');
  }
}

function invalidParams(message: string): RpcError {
  return new RpcError(-32602, `Invalid params: ${message}`);
}

function options(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function checked<T>(valid: boolean, value: unknown, problem: string): T {
  if (!valid) throw invalidParams(problem);
  return value as T;
}
const list = (v: unknown) => checked<unknown[]>(Array.isArray(v), v, 'expected an array');
const text = (v: unknown, what: string) => checked<string>(typeof v === 'string', v, `${what} must be a string`);
const integer = (v: unknown, what: string) =>
  checked<number>(Number.isSafeInteger(v) && Number(v) >= 0, v, `${what} must be a non-negative integer`);

function address(value: unknown): PublicKey {
  try {
    return new PublicKey(text(value, 'address'));
  } catch {
    throw new RpcError(-32602, 'Invalid param: Invalid');
  }
}
