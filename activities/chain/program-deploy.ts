/**
 * Deploys a program (an SBPF shared object) through the upgradeable BPF loader, for real: the loader
 * runs its ELF checks and the verifier on it, as on any cluster.
 *
 *   1. one transaction: SystemProgram.createAccount(buffer, owner loader) + InitializeBuffer;
 *   2. Write in chunks, each transaction at most 1232 bytes;
 *   3. one transaction: SystemProgram.createAccount(program, 36 bytes, owner loader) +
 *      DeployWithMaxDataLen, which creates the programdata account (the PDA [programId] of the loader),
 *      copies the buffer into it and closes the buffer (its lamports go back to the payer).
 *
 * The payer is fee payer, buffer authority and upgrade authority. web3.js 1.x has no helper for this
 * loader, so the instructions are encoded here (bincode: a u32 enum tag, then the fields).
 *
 * Idempotent: if the program account exists (a Program of this loader) and its programdata holds the same bytes,
 * nothing is sent (`alreadyDeployed`). A program holding other bytes is an error: upgrades are not
 * supported here.
 */
import {
  Keypair,
  PublicKey,
  SYSVAR_CLOCK_PUBKEY,
  SYSVAR_RENT_PUBKEY,
  SystemProgram,
  Transaction,
  TransactionInstruction,
} from '@solana/web3.js';
import type { AccountSnapshot, ChainPort } from './port';
import { PACKET_DATA_SIZE, serializedSize } from './transactions';

export const BPF_LOADER_UPGRADEABLE_ID = new PublicKey('BPFLoaderUpgradeab1e11111111111111111111111');

/** Sizes of the loader's account headers (bincode of UpgradeableLoaderState). */
export const BUFFER_METADATA_SIZE = 37; // tag u32 + Option<Pubkey>
export const PROGRAM_ACCOUNT_SIZE = 36; // tag u32 + Pubkey
export const PROGRAMDATA_METADATA_SIZE = 45; // tag u32 + slot u64 + Option<Pubkey>

export { PACKET_DATA_SIZE };

/** UpgradeableLoaderInstruction tags. */
const INITIALIZE_BUFFER = 0;
const WRITE = 1;
const DEPLOY_WITH_MAX_DATA_LEN = 2;

export interface DeployOptions {
  /** Programdata room for the program (default: the program's size; upgrades are not supported anyway). */
  maxDataLen?: number;
  /** The buffer account's key (default: a new one). */
  bufferKeypair?: Keypair;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface DeployResult {
  programId: PublicKey;
  /** Signatures of the transactions sent, in order (none when already deployed). */
  signatures: string[];
  alreadyDeployed: boolean;
}

export class ProgramDeployError extends Error {
  override name = 'ProgramDeployError';
}

/** The programdata account of a program: PDA of the loader with seed [programId]. */
export function programDataAddress(programId: PublicKey): PublicKey {
  return PublicKey.findProgramAddressSync([programId.toBuffer()], BPF_LOADER_UPGRADEABLE_ID)[0];
}

export function initializeBufferInstruction(buffer: PublicKey, authority: PublicKey): TransactionInstruction {
  const data = Buffer.alloc(4);
  data.writeUInt32LE(INITIALIZE_BUFFER, 0);
  return new TransactionInstruction({
    programId: BPF_LOADER_UPGRADEABLE_ID,
    keys: [
      { pubkey: buffer, isSigner: false, isWritable: true },
      { pubkey: authority, isSigner: false, isWritable: false },
    ],
    data,
  });
}

/** Write { offset: u32, bytes: Vec<u8> } (the Vec as a u64 length, then the bytes). */
export function writeInstruction(
  buffer: PublicKey,
  authority: PublicKey,
  offset: number,
  bytes: Buffer,
): TransactionInstruction {
  const data = Buffer.alloc(16 + bytes.length);
  data.writeUInt32LE(WRITE, 0);
  data.writeUInt32LE(offset, 4);
  data.writeBigUInt64LE(BigInt(bytes.length), 8);
  bytes.copy(data, 16);
  return new TransactionInstruction({
    programId: BPF_LOADER_UPGRADEABLE_ID,
    keys: [
      { pubkey: buffer, isSigner: false, isWritable: true },
      { pubkey: authority, isSigner: true, isWritable: false },
    ],
    data,
  });
}

/** DeployWithMaxDataLen { max_data_len: u64 }, accounts in the loader's order. */
export function deployWithMaxDataLenInstruction(a: {
  payer: PublicKey;
  programId: PublicKey;
  buffer: PublicKey;
  authority: PublicKey;
  maxDataLen: number;
}): TransactionInstruction {
  const data = Buffer.alloc(12);
  data.writeUInt32LE(DEPLOY_WITH_MAX_DATA_LEN, 0);
  data.writeBigUInt64LE(BigInt(a.maxDataLen), 4);
  return new TransactionInstruction({
    programId: BPF_LOADER_UPGRADEABLE_ID,
    keys: [
      { pubkey: a.payer, isSigner: true, isWritable: true },
      { pubkey: programDataAddress(a.programId), isSigner: false, isWritable: true },
      { pubkey: a.programId, isSigner: false, isWritable: true },
      { pubkey: a.buffer, isSigner: false, isWritable: true },
      { pubkey: SYSVAR_RENT_PUBKEY, isSigner: false, isWritable: false },
      { pubkey: SYSVAR_CLOCK_PUBKEY, isSigner: false, isWritable: false },
      { pubkey: SystemProgram.programId, isSigner: false, isWritable: false },
      { pubkey: a.authority, isSigner: true, isWritable: false },
    ],
    data,
  });
}

/**
 * The largest Write chunk whose transaction (one signer: payer = authority) fits in a packet: the size
 * of the transaction with an empty chunk, measured, less one byte for the longer length prefix.
 */
export function writeChunkSize(payer: PublicKey, buffer: PublicKey): number {
  const empty = serializedSize(new Transaction().add(writeInstruction(buffer, payer, 0, Buffer.alloc(0))), payer);
  return PACKET_DATA_SIZE - empty - 2; // the data length's compact-u16 grows from 1 to up to 3 bytes
}

/** What a caller must hold to deploy `soLength` bytes: the rent of the three accounts (fees come on top). */
export async function deployCost(chain: ChainPort, soLength: number, maxDataLen = soLength): Promise<number> {
  const [buffer, program, programData] = await Promise.all([
    chain.rentExemptMinimum(BUFFER_METADATA_SIZE + soLength),
    chain.rentExemptMinimum(PROGRAM_ACCOUNT_SIZE),
    chain.rentExemptMinimum(PROGRAMDATA_METADATA_SIZE + maxDataLen),
  ]);
  // The buffer's rent comes back when the deploy closes it, but it is held until then.
  return buffer + program + programData;
}

export async function deployProgram(
  chain: ChainPort,
  payer: Keypair,
  programKeypair: Keypair,
  so: Buffer,
  opts: DeployOptions = {},
): Promise<DeployResult> {
  const programId = programKeypair.publicKey;
  const say = opts.onProgress ?? (() => undefined);
  const maxDataLen = opts.maxDataLen ?? so.length;
  if (maxDataLen < so.length)
    throw new ProgramDeployError(`maxDataLen ${maxDataLen} is below the program's ${so.length} bytes`);

  const existing = await chain.getAccount(programId);
  if (existing) return alreadyDeployed(chain, programId, existing, so);

  const buffer = opts.bufferKeypair ?? Keypair.generate();
  const signatures: string[] = [];
  const bufferSize = BUFFER_METADATA_SIZE + so.length;
  const create = new Transaction()
    .add(
      SystemProgram.createAccount({
        fromPubkey: payer.publicKey,
        newAccountPubkey: buffer.publicKey,
        lamports: await chain.rentExemptMinimum(bufferSize),
        space: bufferSize,
        programId: BPF_LOADER_UPGRADEABLE_ID,
      }),
    )
    .add(initializeBufferInstruction(buffer.publicKey, payer.publicKey));
  signatures.push((await chain.send(create, [payer, buffer])).signature);

  const chunk = writeChunkSize(payer.publicKey, buffer.publicKey);
  for (let offset = 0; offset < so.length; offset += chunk) {
    const bytes = so.subarray(offset, offset + chunk);
    const tx = new Transaction().add(writeInstruction(buffer.publicKey, payer.publicKey, offset, bytes));
    signatures.push((await chain.send(tx, [payer])).signature);
  }
  say(`wrote ${so.length} bytes to buffer ${buffer.publicKey.toBase58()} in ${signatures.length - 1} transactions`);

  const deploy = new Transaction()
    .add(
      SystemProgram.createAccount({
        fromPubkey: payer.publicKey,
        newAccountPubkey: programId,
        lamports: await chain.rentExemptMinimum(PROGRAM_ACCOUNT_SIZE),
        space: PROGRAM_ACCOUNT_SIZE,
        programId: BPF_LOADER_UPGRADEABLE_ID,
      }),
    )
    .add(
      deployWithMaxDataLenInstruction({
        payer: payer.publicKey,
        programId,
        buffer: buffer.publicKey,
        authority: payer.publicKey,
        maxDataLen,
      }),
    );
  signatures.push((await chain.send(deploy, [payer, programKeypair])).signature);
  say(`deployed program ${programId.toBase58()} (${so.length} bytes)`);
  return { programId, signatures, alreadyDeployed: false };
}

async function alreadyDeployed(
  chain: ChainPort,
  programId: PublicKey,
  program: AccountSnapshot,
  so: Buffer,
): Promise<DeployResult> {
  const id = programId.toBase58();
  // Not `executable` alone: with deprecate_executable_meta_update_in_bpf_loader active (as in
  // solana-bankrun 0.4) the loader no longer sets the flag; the Program state says it is deployed.
  if (program.owner !== BPF_LOADER_UPGRADEABLE_ID.toBase58() || program.data.length < PROGRAM_ACCOUNT_SIZE) {
    throw new ProgramDeployError(`account ${id} exists but is not a deployed upgradeable program`);
  }
  const programData = programDataAddress(programId);
  // Program { programdata_address }: tag 2, then the address.
  if (program.data.readUInt32LE(0) !== 2 || !program.data.subarray(4, 36).equals(programData.toBuffer())) {
    throw new ProgramDeployError(`program ${id} does not point at its programdata account ${programData.toBase58()}`);
  }
  const data = (await chain.getAccount(programData))?.data;
  const deployed = data?.subarray(PROGRAMDATA_METADATA_SIZE);
  const same =
    deployed !== undefined &&
    deployed.length >= so.length &&
    deployed.subarray(0, so.length).equals(so) &&
    deployed.subarray(so.length).every((b) => b === 0);
  if (!same) {
    throw new ProgramDeployError(
      `program ${id} is already deployed with other bytes; upgrading is not supported (deploy under a new program keypair)`,
    );
  }
  return { programId, signatures: [], alreadyDeployed: true };
}
