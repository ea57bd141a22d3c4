/**
 * A real deploy of programs/hello (built from source by programs/build) through the upgradeable BPF
 * loader into the embedded SVM: the loader's ELF checks and verifier run on our link step's output.
 * Then the program runs: its logs, its error codes, its compute units, lamports it moves between
 * accounts it owns, and all of it again after the chain is closed and reopened.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keypair, PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { BankrunChain, ChainTransactionError } from '../../activities/chain';
import {
  BPF_LOADER_UPGRADEABLE_ID,
  PACKET_DATA_SIZE,
  PROGRAMDATA_METADATA_SIZE,
  ProgramDeployError,
  deployCost,
  deployProgram,
  programDataAddress,
  writeChunkSize,
  writeInstruction,
} from '../../activities/chain/program-deploy';
import { buildProgram } from '../../programs/build/build-program';
import { tempDir } from './helpers';

const SOL = 1_000_000_000;
let so: Buffer;

beforeAll(async () => {
  so = fs.readFileSync((await buildProgram('hello')).soPath);
});

async function openChain(dir: string): Promise<BankrunChain> {
  return BankrunChain.open({ accountsFile: path.join(dir, 'chain', 'svm-accounts.json') });
}

async function fundedPayer(chain: BankrunChain): Promise<Keypair> {
  const payer = Keypair.generate();
  await chain.airdrop(payer.publicKey, 10 * SOL);
  return payer;
}

interface Run {
  logs: string[];
  /** From "Program <id> consumed N of M compute units". */
  consumed: number;
  error?: ChainTransactionError;
}

/** Sends one hello instruction; a refusal is returned with its logs rather than thrown. */
async function invoke(
  chain: BankrunChain,
  payer: Keypair,
  programId: PublicKey,
  data: number[] | Buffer,
  keys: TransactionInstruction['keys'] = [],
): Promise<Run> {
  const tx = new Transaction().add(new TransactionInstruction({ programId, keys, data: Buffer.from(data) }));
  let logs: string[];
  let error: ChainTransactionError | undefined;
  try {
    const { signature } = await chain.send(tx, [payer]);
    logs = (await chain.getTransactionLogs(signature)) ?? [];
  } catch (err) {
    if (!(err instanceof ChainTransactionError)) throw err;
    error = err;
    logs = err.logs ?? [];
  }
  const cu = logs
    .map((l) => new RegExp(`^Program ${programId.toBase58()} consumed (\\d+) of (\\d+) compute units$`).exec(l))
    .find((m) => m);
  if (!cu) throw new Error(`no compute units in the logs:\n${logs.join('\n')}`);
  return { logs, consumed: Number(cu[1]), error };
}

test('deploys hello through the upgradeable loader, runs it, and redeploys idempotently', async () => {
  const dir = tempDir();
  const chain = await openChain(dir);
  try {
    const payer = await fundedPayer(chain);
    const programKeypair = Keypair.generate();
    const before = await chain.getLamports(payer.publicKey);
    const cost = await deployCost(chain, so.length);

    const deployed = await deployProgram(chain, payer, programKeypair, so);
    const programId = programKeypair.publicKey;
    expect(deployed).toMatchObject({ programId, alreadyDeployed: false });
    // Create + InitializeBuffer, the Writes, then create program + DeployWithMaxDataLen.
    const chunk = writeChunkSize(payer.publicKey, Keypair.generate().publicKey);
    expect(deployed.signatures).toHaveLength(2 + Math.ceil(so.length / chunk));
    const spent = before - (await chain.getLamports(payer.publicKey));
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(cost);
    process.stderr.write(
      `hello: ${so.length} bytes deployed in ${deployed.signatures.length} transactions; rent held ${cost}, spent ${spent} lamports\n`,
    );

    const program = await chain.getAccount(programId);
    expect(program).toMatchObject({ owner: BPF_LOADER_UPGRADEABLE_ID.toBase58() });
    expect(program?.data.subarray(4, 36).equals(programDataAddress(programId).toBuffer())).toBe(true);
    const programData = await chain.getAccount(programDataAddress(programId));
    expect(programData?.data.subarray(PROGRAMDATA_METADATA_SIZE).equals(so)).toBe(true);

    // Instruction 0: logs, and a greeting read through a table of pointers into .rodata.
    const hello = await invoke(chain, payer, programId, [0]);
    expect(hello.error).toBeUndefined();
    expect(hello.logs).toEqual(
      expect.arrayContaining(['Program log: hello: entrypoint reached', 'Program log: hello: gm from agenc']),
    );
    expect(hello.consumed).toBeGreaterThan(50);
    expect(hello.consumed).toBeLessThan(1000);
    const second = await invoke(chain, payer, programId, [0, 1]);
    expect(second.logs).toContain('Program log: hello: second greeting');
    expect((await invoke(chain, payer, programId, [0, 9])).logs).toContain('Program log: hello: no such greeting');

    // Instruction 1: custom error 1.
    const refused = await invoke(chain, payer, programId, [1]);
    expect(refused.error?.message).toMatch(/custom program error: 0x1\b/);
    expect(refused.logs).toContain('Program log: hello: refusing instruction 1');
    // Anything else: error 2. A panic: the handler logs, then aborts.
    expect((await invoke(chain, payer, programId, [200])).error?.message).toMatch(/custom program error: 0x2\b/);
    const panicked = await invoke(chain, payer, programId, [3]);
    expect(panicked.error?.message).toMatch(/Program failed to complete/);
    expect(panicked.logs).toContain('Program log: hello: panicked');
    process.stderr.write(
      `hello compute units: greet ${hello.consumed}, refuse ${refused.consumed}, panic ${panicked.consumed}\n`,
    );

    // Instruction 2: lamports between two accounts the program owns, written directly.
    const [from, to] = [Keypair.generate(), Keypair.generate()];
    const rent = await chain.rentExemptMinimum(0);
    const create = new Transaction();
    for (const account of [from, to]) {
      create.add(
        SystemProgram.createAccount({
          fromPubkey: payer.publicKey,
          newAccountPubkey: account.publicKey,
          lamports: rent + SOL,
          space: 0,
          programId,
        }),
      );
    }
    await chain.send(create, [payer, from, to]);
    const amount = Buffer.alloc(8);
    amount.writeBigUInt64LE(250_000_000n);
    const accounts = [from, to].map((k) => ({ pubkey: k.publicKey, isSigner: false, isWritable: true }));
    const moved = await invoke(chain, payer, programId, Buffer.concat([Buffer.from([2]), amount]), accounts);
    expect(moved.error).toBeUndefined();
    expect(moved.logs).toContain('Program log: hello: moved lamports');
    expect(await chain.getLamports(from.publicKey)).toBe(rent + SOL - 250_000_000);
    expect(await chain.getLamports(to.publicKey)).toBe(rent + SOL + 250_000_000);
    amount.writeBigUInt64LE(BigInt(10 * SOL));
    const tooMuch = await invoke(chain, payer, programId, Buffer.concat([Buffer.from([2]), amount]), accounts);
    expect(tooMuch.error?.message).toMatch(/custom program error: 0x4\b/);

    // Deploying the same bytes again sends nothing; other bytes under the same id are refused.
    expect(await deployProgram(chain, payer, programKeypair, so)).toEqual({
      programId,
      signatures: [],
      alreadyDeployed: true,
    });
    const other = Buffer.from(so);
    other.writeUInt8(other.readUInt8(other.length - 1) ^ 0xff, other.length - 1);
    await expect(deployProgram(chain, payer, programKeypair, other)).rejects.toThrow(ProgramDeployError);
  } finally {
    await chain.close();
  }
});

test('a deployed program survives close and reopen of the same accounts file', async () => {
  const dir = tempDir();
  const chain = await openChain(dir);
  const payer = await fundedPayer(chain);
  const programKeypair = Keypair.generate();
  const programId = programKeypair.publicKey;
  await deployProgram(chain, payer, programKeypair, so);
  expect((await invoke(chain, payer, programId, [0])).error).toBeUndefined();
  await chain.close();

  // Both the program account and its programdata are in the snapshot.
  const snapshot = JSON.parse(fs.readFileSync(chain.accountsFile, 'utf8')) as {
    accounts: Array<{ address: string; owner: string; executable: boolean; data: string }>;
  };
  const persisted = new Map(snapshot.accounts.map((a) => [a.address, a]));
  for (const address of [programId, programDataAddress(programId)]) {
    expect(persisted.get(address.toBase58())?.owner).toBe(BPF_LOADER_UPGRADEABLE_ID.toBase58());
  }
  const persistedData = Buffer.from(persisted.get(programDataAddress(programId).toBase58())?.data ?? '', 'base64');
  expect(persistedData.subarray(PROGRAMDATA_METADATA_SIZE).equals(so)).toBe(true);

  const again = await openChain(dir);
  try {
    // More than one slot after the reopen: each send is a slot of its own.
    for (const greeting of [0, 1, 2]) {
      const run = await invoke(again, payer, programId, [0, greeting]);
      expect(run.error).toBeUndefined();
      expect(run.logs).toContain('Program log: hello: entrypoint reached');
    }
    expect((await invoke(again, payer, programId, [1])).error?.message).toMatch(/custom program error: 0x1\b/);
    expect((await deployProgram(again, payer, programKeypair, so)).alreadyDeployed).toBe(true);
  } finally {
    await again.close();
  }
});

test('a corrupted ELF is refused by the loader itself, with its reason', async () => {
  const chain = await openChain(tempDir());
  try {
    const payer = await fundedPayer(chain);
    const corrupt = Buffer.from(so);
    corrupt.writeUInt16LE(62, 18); // e_machine: x86-64 instead of BPF
    const programKeypair = Keypair.generate();
    const err = await deployProgram(chain, payer, programKeypair, corrupt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainTransactionError);
    expect((err as ChainTransactionError).logs).toContain('Incompatible ELF: wrong machine');
    expect((err as Error).message).toMatch(/invalid account data for instruction/);
    // Nothing was deployed: the program account was created in the same, failed, transaction.
    expect(await chain.getAccount(programKeypair.publicKey)).toBeNull();
  } finally {
    await chain.close();
  }
});

test('each Write transaction fits in a packet', () => {
  const payer = Keypair.generate();
  const buffer = Keypair.generate();
  const chunk = writeChunkSize(payer.publicKey, buffer.publicKey);
  const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: PublicKey.default.toBase58() }).add(
    writeInstruction(buffer.publicKey, payer.publicKey, 0, Buffer.alloc(chunk)),
  );
  tx.sign(payer);
  expect(tx.serialize().length).toBeLessThanOrEqual(PACKET_DATA_SIZE);
  expect(chunk).toBeGreaterThan(900);
});
