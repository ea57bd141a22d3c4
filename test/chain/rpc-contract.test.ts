/**
 * The lock/release/slash contract through RpcChain, and RpcChain's own failure and history paths. With
 * SOLANA_RPC_URL set they run against that cluster (a local solana-test-validator or devnet: they need
 * requestAirdrop); without it, against a JSON-RPC server on 127.0.0.1 backed by the real SVM
 * (svm-rpc-server.ts), so they run in every `npm test`.
 */
import { Keypair, PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { ChainTransactionError, MEMO_PROGRAM_ID, RpcChain, custodyOf, deployCustody } from '../../activities/chain';
import { runBondContract } from './contract';
import { envFor, tempDir, testKeys } from './helpers';
import { startSvmRpcServer, type SvmRpcServer } from './svm-rpc-server';

const clusterUrl = process.env.SOLANA_RPC_URL;
const endpoint = clusterUrl ?? 'a local SVM-backed JSON-RPC server';
let local: SvmRpcServer | undefined;

beforeAll(async () => {
  if (!clusterUrl) local = await startSvmRpcServer();
});
afterAll(async () => {
  await local?.close();
});

function rpcChain(): RpcChain {
  return local ? new RpcChain(local.url, { wsEndpoint: local.wsUrl }) : new RpcChain(clusterUrl ?? '');
}

test(`custody program deployed, then the lock/release/slash contract through RpcChain at ${endpoint}`, async () => {
  const dir = tempDir();
  const env = envFor({ chain: rpcChain(), keys: testKeys(dir) }, dir);
  try {
    // On a cluster nothing deploys the program by itself (`agenc admin deploy-program` does this):
    // without it every stake operation is refused, saying so.
    await expect(custodyOf(env.deps)).rejects.toThrow(/agenc admin deploy-program/);
    await env.chain.airdrop(env.keys.authority().publicKey, 10_000_000_000);
    const deployed = await deployCustody(env.deps);
    expect(deployed.alreadyDeployed).toBe(false);
    expect(await deployCustody(env.deps)).toMatchObject({ alreadyDeployed: true, programId: deployed.programId });
    await runBondContract(env);
  } finally {
    await env.close();
  }
}, 300_000);

test(`RpcChain at ${endpoint}: a rejected transaction is a ChainTransactionError with the program logs`, async () => {
  const chain = rpcChain();
  const payer = Keypair.generate();
  await chain.airdrop(payer.publicKey, 1_000_000);
  const tx = new Transaction().add(
    SystemProgram.transfer({
      fromPubkey: payer.publicKey,
      toPubkey: Keypair.generate().publicKey,
      lamports: 2_000_000,
    }),
  );
  const err: unknown = await chain.send(tx, [payer]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ChainTransactionError);
  expect((err as ChainTransactionError).logs).toContainEqual(expect.stringMatching(/^Transfer: insufficient lamports/));
  expect(await chain.getLamports(payer.publicKey)).toBe(1_000_000); // refused at preflight: not even a fee
}, 120_000);

test(`RpcChain at ${endpoint}: memo history comes back oldest first, with each memo and fee payer`, async () => {
  const chain = rpcChain();
  const payer = Keypair.generate();
  await chain.airdrop(payer.publicKey, 100_000_000);
  const memo = (text: string) =>
    new Transaction().add(
      new TransactionInstruction({
        programId: new PublicKey(MEMO_PROGRAM_ID),
        keys: [{ pubkey: payer.publicKey, isSigner: true, isWritable: false }],
        data: Buffer.from(text, 'utf8'),
      }),
    );
  const first = await chain.send(memo('first'), [payer]);
  const second = await chain.send(memo('second'), [payer]);
  const history = (await chain.getMemoHistory(payer.publicKey)).filter((h) => h.memo !== null); // the airdrop has none
  expect(history.map((h) => [h.signature, h.memo, h.feePayer])).toEqual([
    [first.signature, 'first', payer.publicKey.toBase58()],
    [second.signature, 'second', payer.publicKey.toBase58()],
  ]);
  expect(history[0]?.slot).toBeLessThanOrEqual(history[1]?.slot ?? -1);
}, 120_000);
