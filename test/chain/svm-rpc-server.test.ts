/** The SVM-backed JSON-RPC test server, seen through a real @solana/web3.js Connection. */
import {
  Connection,
  Keypair,
  PublicKey,
  SendTransactionError,
  SystemProgram,
  Transaction,
  TransactionInstruction,
  sendAndConfirmTransaction,
} from '@solana/web3.js';
import WebSocket from 'ws';
import { MEMO_PROGRAM_ID } from '../../activities/chain';
import { startSvmRpcServer, type SvmRpcServer } from './svm-rpc-server';

let server: SvmRpcServer;
let connection: Connection;

beforeAll(async () => {
  server = await startSvmRpcServer();
  connection = new Connection(server.url, { commitment: 'confirmed', wsEndpoint: server.wsUrl });
});
afterAll(() => server.close());

async function funded(lamports: number): Promise<Keypair> {
  const wallet = Keypair.generate();
  const signature = await connection.requestAirdrop(wallet.publicKey, lamports);
  const latest = await connection.getLatestBlockhash();
  const { value } = await connection.confirmTransaction({ signature, ...latest });
  expect(value.err).toBeNull();
  return wallet;
}

function transfer(from: Keypair, to: PublicKey, lamports: number, memo?: string): Transaction {
  const tx = new Transaction().add(SystemProgram.transfer({ fromPubkey: from.publicKey, toPubkey: to, lamports }));
  if (memo === undefined) return tx;
  return tx.add(
    new TransactionInstruction({
      programId: new PublicKey(MEMO_PROGRAM_ID),
      keys: [{ pubkey: from.publicKey, isSigner: true, isWritable: false }],
      data: Buffer.from(memo, 'utf8'),
    }),
  );
}

test('requestAirdrop is a real transfer inside the SVM: getBalance and getAccountInfo see it', async () => {
  const wallet = await funded(2_000_000_000);
  expect(await connection.getBalance(wallet.publicKey)).toBe(2_000_000_000);
  const info = await connection.getAccountInfo(wallet.publicKey);
  expect(info).toMatchObject({ lamports: 2_000_000_000, executable: false });
  expect(info?.owner.equals(SystemProgram.programId)).toBe(true);
  expect(await connection.getAccountInfo(Keypair.generate().publicKey)).toBeNull();
  const [history] = await connection.getSignaturesForAddress(wallet.publicKey);
  expect(history).toMatchObject({ err: null, memo: null, confirmationStatus: 'finalized' });
});

test('the same airdrop requested twice at once is two transfers, not one transaction replayed', async () => {
  const to = Keypair.generate().publicKey;
  const [a, b] = await Promise.all([
    connection.requestAirdrop(to, 1_000_000),
    connection.requestAirdrop(to, 1_000_000),
  ]);
  expect(a).not.toBe(b);
  expect(await connection.getBalance(to)).toBe(2_000_000);
});

test('blocks follow the clock: a new blockhash once a block time has passed, heights and slots only grow', async () => {
  const first = await connection.getLatestBlockhashAndContext();
  await new Promise((resolve) => setTimeout(resolve, 450));
  const second = await connection.getLatestBlockhashAndContext();
  expect(second.value.blockhash).not.toBe(first.value.blockhash);
  expect(second.value.lastValidBlockHeight).toBeGreaterThan(first.value.lastValidBlockHeight);
  expect(second.context.slot).toBeGreaterThan(first.context.slot);
  expect(await connection.getBlockHeight()).toBeLessThan(second.value.lastValidBlockHeight);
});

test('a transfer with a memo is in getSignaturesForAddress (newest first, before/limit) and getTransaction(s)', async () => {
  const payer = await funded(1_000_000_000);
  const recipient = Keypair.generate().publicKey;
  const first = await sendAndConfirmTransaction(connection, transfer(payer, recipient, 1_000_000, 'hello svm'), [
    payer,
  ]);
  const second = await sendAndConfirmTransaction(connection, transfer(payer, recipient, 2_000_000), [payer]);
  expect(await connection.getBalance(recipient)).toBe(3_000_000);

  const history = await connection.getSignaturesForAddress(recipient);
  expect(history.map((s) => [s.signature, s.memo, s.err])).toEqual([
    [second, null, null],
    [first, '[9] hello svm', null],
  ]);
  expect(history[0]?.slot).toBeGreaterThanOrEqual(history[1]?.slot ?? Infinity);
  expect((await connection.getSignaturesForAddress(recipient, { limit: 1 })).map((s) => s.signature)).toEqual([second]);
  expect((await connection.getSignaturesForAddress(recipient, { before: second })).map((s) => s.signature)).toEqual([
    first,
  ]);

  const tx = await connection.getTransaction(first, { maxSupportedTransactionVersion: 0 });
  expect(tx).toMatchObject({ version: 'legacy', meta: { err: null, fee: 5000 } });
  const keys = tx?.transaction.message.staticAccountKeys.map((k) => k.toBase58()) ?? [];
  const memo = tx?.transaction.message.compiledInstructions.find((ix) => keys[ix.programIdIndex] === MEMO_PROGRAM_ID);
  expect(Buffer.from(memo?.data ?? []).toString('utf8')).toBe('hello svm');
  expect(tx?.meta?.logMessages).toContain(`Program ${MEMO_PROGRAM_ID} success`);
  const r = keys.indexOf(recipient.toBase58());
  expect([tx?.meta?.preBalances[r], tx?.meta?.postBalances[r]]).toEqual([0, 1_000_000]);
  expect((tx?.meta?.preBalances[0] ?? 0) - (tx?.meta?.postBalances[0] ?? 0)).toBe(1_000_000 + 5000);

  const batch = await connection.getTransactions(
    [first, second, '1111111111111111111111111111111111111111111111111111111111111111'],
    {
      maxSupportedTransactionVersion: 0,
    },
  );
  expect(batch.map((t) => t?.transaction.signatures[0] ?? null)).toEqual([first, second, null]);
});

test('a blockhash handed out stays usable for its lifetime, however fast the SVM retires its own', async () => {
  const payer = await funded(100_000_000);
  const to = Keypair.generate().publicKey;
  const first = transfer(payer, to, 1_000_000);
  await sendAndConfirmTransaction(connection, first, [payer]);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const second = transfer(payer, to, 2_000_000); // a different transaction, so web3.js reuses its cached blockhash
  await sendAndConfirmTransaction(connection, second, [payer]);
  expect(second.recentBlockhash).toBe(first.recentBlockhash);
  expect(await connection.getBalance(to)).toBe(3_000_000);
}, 20_000);

test('a transaction with a bad signature is refused before the SVM sees it', async () => {
  const payer = await funded(100_000_000);
  const tx = transfer(payer, Keypair.generate().publicKey, 1_000_000);
  tx.recentBlockhash = (await connection.getLatestBlockhash()).blockhash;
  tx.sign(payer);
  const wire = tx.serialize();
  wire[1] = (wire[1] ?? 0) ^ 0xff; // first byte of the only signature, after its length prefix
  await expect(connection.sendRawTransaction(wire)).rejects.toThrow('Transaction signature verification failure');
  expect(await connection.getBalance(payer.publicKey)).toBe(100_000_000);
});

test('a transfer beyond the balance fails preflight: SendTransactionError with the program logs, nothing lands', async () => {
  const payer = await funded(1_000_000);
  const err: unknown = await sendAndConfirmTransaction(
    connection,
    transfer(payer, Keypair.generate().publicKey, 2_000_000),
    [payer],
  ).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SendTransactionError);
  expect((err as Error).message).toContain('custom program error: 0x1');
  const logs = await (err as SendTransactionError).getLogs(connection);
  expect(logs).toContain('Transfer: insufficient lamports 995000, need 2000000');
  expect(await connection.getBalance(payer.publicKey)).toBe(1_000_000);
  expect(await connection.getSignaturesForAddress(payer.publicKey)).toHaveLength(1); // the airdrop only
});

test('with skipPreflight a failing transfer lands: fee charged, the error in status, history and getTransaction', async () => {
  const payer = await funded(1_000_000);
  const signature = await connection.sendTransaction(
    transfer(payer, Keypair.generate().publicKey, 2_000_000),
    [payer],
    {
      skipPreflight: true,
    },
  );
  const latest = await connection.getLatestBlockhash();
  const outcome = await connection.confirmTransaction({ signature, ...latest }).then(
    (r) => r.value.err,
    (e: unknown) => e, // web3.js rejects with the raw error when its status check wins the race
  );
  const expected = { InstructionError: [0, { Custom: 1 }] };
  expect(outcome).toEqual(expected);
  expect(await connection.getBalance(payer.publicKey)).toBe(1_000_000 - 5000);
  expect((await connection.getSignatureStatus(signature)).value).toMatchObject({
    err: expected,
    confirmationStatus: 'finalized',
  });
  expect((await connection.getSignaturesForAddress(payer.publicKey))[0]).toMatchObject({ signature, err: expected });
  const tx = await connection.getTransaction(signature, { maxSupportedTransactionVersion: 0 });
  expect(tx?.meta).toMatchObject({ err: expected, fee: 5000 });
  expect(tx?.meta?.logMessages).toContain('Transfer: insufficient lamports 995000, need 2000000');
});

test('signatureSubscribe notifies once with the slot and the result', async () => {
  const signature = await connection.requestAirdrop(Keypair.generate().publicKey, 1_000_000_000);
  const notified = await new Promise((resolve) =>
    connection.onSignature(signature, (result, context) => resolve({ result, context })),
  );
  const [status] = (await connection.getSignatureStatuses([signature])).value;
  expect(notified).toEqual({ result: { err: null }, context: { slot: status?.slot } });
}, 10_000);

test('an unknown method answers -32601 naming it, over HTTP and WebSocket; a batch is answered in order', async () => {
  const post = async (body: unknown) =>
    (
      await fetch(server.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json();
  expect(await post({ jsonrpc: '2.0', id: 7, method: 'getFooBar', params: [] })).toEqual({
    jsonrpc: '2.0',
    id: 7,
    error: { code: -32601, message: 'Method not found: getFooBar' },
  });
  const answers = (await post([
    { jsonrpc: '2.0', id: 'a', method: 'getBlockHeight' },
    { jsonrpc: '2.0', id: 'b', method: 'getVoteAccounts' },
  ])) as Array<{ id: string; result?: number; error?: { code: number } }>;
  expect(answers.map((a) => [a.id, typeof a.result, a.error?.code])).toEqual([
    ['a', 'number', undefined],
    ['b', 'undefined', -32601],
  ]);
  const socket = new WebSocket(server.wsUrl);
  const reply = await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('message', (data) => resolve(JSON.parse(String(data))));
    socket.once('open', () => socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'slotSubscribe' })));
  });
  socket.close(1000);
  expect(reply).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'Method not found: slotSubscribe' } });
});
