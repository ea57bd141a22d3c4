/**
 * The custody program's account layouts and instruction encodings as TypeScript sees them: the mirror
 * of programs/custody/src/state.rs and lib.rs (test/chain/custody-layout.test.ts reads both and checks
 * every offset agrees). Fixed offsets, little-endian.
 */
import { PublicKey } from '@solana/web3.js';

export const TAG = { config: 1, vault: 2, bond: 3, record: 4 } as const;

/** Slash reasons, each with its own percentage in the program's config. */
export const SLASH_REASONS = ['execution_failed', 'proof_failed', 'proof_timeout', 'other'] as const;
export type SlashReason = (typeof SLASH_REASONS)[number];

export const CONFIG = {
  len: 128,
  treasuryShareBps: 2,
  slashBps: 4,
  authority: 16,
  treasury: 48,
  minStake: 80,
  stakePerDepth: 88,
  maxStake: 96,
  bondExpiry: 104,
  recordRetention: 112,
} as const;

export const VAULT = {
  len: 128,
  delegated: 1,
  config: 8,
  agent: 40,
  reserve: 72,
  accounted: 80,
  deposited: 88,
  withdrawn: 96,
  bonded: 104,
  slashed: 112,
  compensated: 120,
} as const;

export const BOND = {
  len: 128,
  depth: 4,
  config: 8,
  vault: 40,
  task: 72,
  amount: 104,
  lockedAt: 112,
  attempt: 120,
} as const;

export const RECORD = {
  headerLen: 184,
  maxParents: 8,
  status: 1,
  parents: 2,
  config: 8,
  task: 40,
  agent: 72,
  commitment: 104,
  vkeyHash: 136,
  committedAt: 168,
  settledAt: 176,
} as const;

export const RECORD_STATUS = { 1: 'pending', 2: 'confirmed', 3: 'failed' } as const;
export type RecordStatus = (typeof RECORD_STATUS)[keyof typeof RECORD_STATUS];

export function recordLen(parents: number): number {
  return RECORD.headerLen + 32 * parents;
}

export const IX = {
  initConfig: 0,
  updateConfig: 1,
  deposit: 2,
  withdraw: 3,
  bond: 4,
  release: 5,
  slash: 6,
  commit: 7,
  settleRecord: 8,
  closeRecord: 9,
  expireRelease: 10,
} as const;

export const MAX_VICTIMS = 16;

export interface ProgramConfig {
  authority: PublicKey;
  treasury: PublicKey;
  /** Basis points (1/10,000) of a slash that go to the treasury when victims share it. */
  treasuryShareBps: number;
  /** Basis points of a bond slashed, per reason (SLASH_REASONS order). */
  slashBps: Record<SlashReason, number>;
  minStake: bigint;
  stakePerDepth: bigint;
  maxStake: bigint;
  /** Seconds after a bond is locked when its agent may release it without the authority. */
  bondExpirySecs: bigint;
  /** Seconds after a record is settled when it may be closed. */
  recordRetentionSecs: bigint;
}

export interface VaultState {
  delegated: boolean;
  config: PublicKey;
  agent: PublicKey;
  reserve: bigint;
  accounted: bigint;
  deposited: bigint;
  withdrawn: bigint;
  bonded: bigint;
  slashed: bigint;
  compensated: bigint;
}

export interface BondState {
  depth: number;
  config: PublicKey;
  vault: PublicKey;
  task: Buffer;
  amount: bigint;
  lockedAt: bigint;
  attempt: number;
}

export interface RecordState {
  status: RecordStatus;
  config: PublicKey;
  task: Buffer;
  agent: PublicKey;
  commitment: Buffer;
  vkeyHash: Buffer;
  committedAt: bigint;
  settledAt: bigint;
  parents: PublicKey[];
}

const key = (d: Buffer, at: number) => new PublicKey(d.subarray(at, at + 32));

function expectTag(d: Buffer, tag: number, what: string): void {
  if (d[0] !== tag) throw new Error(`account is not a custody ${what} (tag ${d[0]}, expected ${tag})`);
}

export function decodeConfig(d: Buffer): ProgramConfig {
  expectTag(d, TAG.config, 'config');
  const bps = (i: number) => d.readUInt16LE(CONFIG.slashBps + 2 * i);
  return {
    authority: key(d, CONFIG.authority),
    treasury: key(d, CONFIG.treasury),
    treasuryShareBps: d.readUInt16LE(CONFIG.treasuryShareBps),
    slashBps: Object.fromEntries(SLASH_REASONS.map((r, i) => [r, bps(i)])) as Record<SlashReason, number>,
    minStake: d.readBigUInt64LE(CONFIG.minStake),
    stakePerDepth: d.readBigUInt64LE(CONFIG.stakePerDepth),
    maxStake: d.readBigUInt64LE(CONFIG.maxStake),
    bondExpirySecs: d.readBigInt64LE(CONFIG.bondExpiry),
    recordRetentionSecs: d.readBigInt64LE(CONFIG.recordRetention),
  };
}

export function decodeVault(d: Buffer): VaultState {
  expectTag(d, TAG.vault, 'vault');
  const u = (at: number) => d.readBigUInt64LE(at);
  return {
    delegated: d[VAULT.delegated] === 1,
    config: key(d, VAULT.config),
    agent: key(d, VAULT.agent),
    reserve: u(VAULT.reserve),
    accounted: u(VAULT.accounted),
    deposited: u(VAULT.deposited),
    withdrawn: u(VAULT.withdrawn),
    bonded: u(VAULT.bonded),
    slashed: u(VAULT.slashed),
    compensated: u(VAULT.compensated),
  };
}

export function decodeBond(d: Buffer): BondState {
  expectTag(d, TAG.bond, 'bond');
  return {
    depth: d.readUInt32LE(BOND.depth),
    config: key(d, BOND.config),
    vault: key(d, BOND.vault),
    task: Buffer.from(d.subarray(BOND.task, BOND.task + 32)),
    amount: d.readBigUInt64LE(BOND.amount),
    lockedAt: d.readBigInt64LE(BOND.lockedAt),
    attempt: d.readUInt32LE(BOND.attempt),
  };
}

export function decodeRecord(d: Buffer): RecordState {
  expectTag(d, TAG.record, 'commitment record');
  const n = d[RECORD.parents] ?? 0;
  const bytes = (at: number) => Buffer.from(d.subarray(at, at + 32));
  return {
    status: RECORD_STATUS[d[RECORD.status] as keyof typeof RECORD_STATUS],
    config: key(d, RECORD.config),
    task: bytes(RECORD.task),
    agent: key(d, RECORD.agent),
    commitment: bytes(RECORD.commitment),
    vkeyHash: bytes(RECORD.vkeyHash),
    committedAt: d.readBigInt64LE(RECORD.committedAt),
    settledAt: d.readBigInt64LE(RECORD.settledAt),
    parents: Array.from({ length: n }, (_, i) => key(d, RECORD.headerLen + 32 * i)),
  };
}
