/**
 * Addresses and instructions of the custody program (programs/custody). Every account the program
 * owns is made (rent transfer + System AllocateWithSeed) in the same transaction as the instruction
 * that initialises it, so its creator pays its rent and its address is derived:
 *   config  (authority, "agenc-config")
 *   vault   (agent,     "v" + hex(sha256(config))[..31])       one per agent and config
 *   bond    (authority, "b" + hex(sha256(task ‖ attempt))[..31]) one per task attempt (checked on-chain)
 *   record  (authority, "c" + hex(task)[..31])                 one per task (checked on-chain)
 * where task = sha256("agenc-task:" + task id).
 */
import { createHash } from 'node:crypto';
import { PublicKey, SystemProgram, TransactionInstruction, type AccountMeta } from '@solana/web3.js';
import { BOND, CONFIG, IX, MAX_VICTIMS, RECORD, SLASH_REASONS, VAULT, recordLen, type SlashReason } from './layout';

export const CONFIG_SEED = 'agenc-config';

export function taskHash(taskId: string): Buffer {
  return createHash('sha256').update(`agenc-task:${taskId}`, 'utf8').digest();
}

function seed(prefix: string, hash: Buffer): string {
  return prefix + hash.toString('hex').slice(0, 31);
}

export function vaultSeed(config: PublicKey): string {
  return seed('v', createHash('sha256').update(config.toBuffer()).digest());
}

export function bondSeed(taskId: string, attempt: number): string {
  const a = Buffer.alloc(4);
  a.writeUInt32LE(attempt);
  return seed('b', createHash('sha256').update(taskHash(taskId)).update(a).digest());
}

export function recordSeed(taskId: string): string {
  return seed('c', taskHash(taskId));
}

/** Where one deployment's custody accounts are: its program and the authority whose config it uses. */
export class Custody {
  readonly config: PublicKey;

  private constructor(
    readonly programId: PublicKey,
    readonly authority: PublicKey,
    config: PublicKey,
  ) {
    this.config = config;
  }

  static async at(programId: PublicKey, authority: PublicKey): Promise<Custody> {
    return new Custody(programId, authority, await PublicKey.createWithSeed(authority, CONFIG_SEED, programId));
  }

  vault(agent: PublicKey): Promise<PublicKey> {
    return PublicKey.createWithSeed(agent, vaultSeed(this.config), this.programId);
  }

  bond(taskId: string, attempt = 0): Promise<PublicKey> {
    return PublicKey.createWithSeed(this.authority, bondSeed(taskId, attempt), this.programId);
  }

  record(taskId: string): Promise<PublicKey> {
    return PublicKey.createWithSeed(this.authority, recordSeed(taskId), this.programId);
  }

  private ix(keys: AccountMeta[], data: Buffer): TransactionInstruction {
    return new TransactionInstruction({ programId: this.programId, keys, data });
  }

  /**
   * Makes `address` (derived from `base` and `seedText`) an account of this program with `space` bytes:
   * the rent first, then AllocateWithSeed (which also assigns the owner). Unlike CreateAccountWithSeed
   * this works on an address someone already sent lamports to, so nobody can keep a task from bonding
   * or committing by funding its derivable address; such lamports stay in the account and go back to
   * the authority with its rent when the program closes it.
   */
  private createSeeded(
    payer: PublicKey,
    base: PublicKey,
    seedText: string,
    address: PublicKey,
    space: number,
    lamports: number,
  ) {
    return [
      SystemProgram.transfer({ fromPubkey: payer, toPubkey: address, lamports }),
      SystemProgram.allocate({
        accountPubkey: address,
        basePubkey: base,
        seed: seedText,
        space,
        programId: this.programId,
      }),
    ];
  }

  /** InitConfig (with the config account's creation), or UpdateConfig of the rules (authority and treasury stay). */
  configure(p: {
    treasury: PublicKey;
    rules: ConfigRules;
    create?: { rentLamports: number };
  }): TransactionInstruction[] {
    const data = encodeRules(p.create ? IX.initConfig : IX.updateConfig, p.rules);
    const keys: AccountMeta[] = [
      { pubkey: this.config, isSigner: false, isWritable: true },
      { pubkey: this.authority, isSigner: true, isWritable: false },
    ];
    if (!p.create) return [this.ix(keys, data)];
    keys.push({ pubkey: p.treasury, isSigner: false, isWritable: false });
    return [
      ...this.createSeeded(this.authority, this.authority, CONFIG_SEED, this.config, CONFIG.len, p.create.rentLamports),
      this.ix(keys, data),
    ];
  }

  /**
   * Deposit from the agent's wallet: the first creates the vault (rent + amount, the agent's signature
   * making it a standing delegation to bond by the rule), later ones transfer then count.
   */
  async deposit(p: {
    agent: PublicKey;
    amount: number;
    create?: { rentLamports: number };
  }): Promise<TransactionInstruction[]> {
    const vault = await this.vault(p.agent);
    const move = p.create
      ? this.createSeeded(p.agent, p.agent, vaultSeed(this.config), vault, VAULT.len, p.create.rentLamports + p.amount)
      : [SystemProgram.transfer({ fromPubkey: p.agent, toPubkey: vault, lamports: p.amount })];
    return [
      ...move,
      this.ix(
        [
          { pubkey: this.config, isSigner: false, isWritable: false },
          { pubkey: p.agent, isSigner: true, isWritable: true },
          { pubkey: vault, isSigner: false, isWritable: true },
        ],
        Buffer.from([IX.deposit, 1]),
      ),
    ];
  }

  async withdraw(p: { agent: PublicKey; amount: bigint | number; to?: PublicKey }): Promise<TransactionInstruction> {
    return this.ix(
      [
        { pubkey: this.config, isSigner: false, isWritable: false },
        { pubkey: p.agent, isSigner: true, isWritable: false },
        { pubkey: await this.vault(p.agent), isSigner: false, isWritable: true },
        { pubkey: p.to ?? p.agent, isSigner: false, isWritable: true },
      ],
      Buffer.concat([Buffer.from([IX.withdraw]), u64(p.amount)]),
    );
  }

  /** The bond account's creation (its rent from the authority) and Bond: the rule's amount for `depth`. */
  async lock(p: {
    agent: PublicKey;
    taskId: string;
    attempt?: number;
    depth: number;
    rentLamports: number;
  }): Promise<TransactionInstruction[]> {
    const attempt = p.attempt ?? 0;
    const bond = await this.bond(p.taskId, attempt);
    return [
      ...this.createSeeded(this.authority, this.authority, bondSeed(p.taskId, attempt), bond, BOND.len, p.rentLamports),
      this.ix(
        [
          { pubkey: this.config, isSigner: false, isWritable: false },
          { pubkey: this.authority, isSigner: true, isWritable: true },
          { pubkey: await this.vault(p.agent), isSigner: false, isWritable: true },
          { pubkey: bond, isSigner: false, isWritable: true },
        ],
        Buffer.concat([Buffer.from([IX.bond]), taskHash(p.taskId), u32(attempt), u32(p.depth)]),
      ),
    ];
  }

  private async settlementKeys(signer: PublicKey, agent: PublicKey, taskId: string, attempt: number) {
    return [
      { pubkey: this.config, isSigner: false, isWritable: false },
      { pubkey: signer, isSigner: true, isWritable: true },
      { pubkey: await this.vault(agent), isSigner: false, isWritable: true },
      { pubkey: await this.bond(taskId, attempt), isSigner: false, isWritable: true },
      { pubkey: this.authority, isSigner: signer.equals(this.authority), isWritable: true },
    ];
  }

  async release(p: { agent: PublicKey; taskId: string; attempt?: number }): Promise<TransactionInstruction> {
    const keys = await this.settlementKeys(this.authority, p.agent, p.taskId, p.attempt ?? 0);
    return this.ix(keys, Buffer.from([IX.release]));
  }

  /** The agent's own release of a bond the authority left unsettled past the config's bond expiry. */
  async expireRelease(p: { agent: PublicKey; taskId: string; attempt?: number }): Promise<TransactionInstruction> {
    const keys = await this.settlementKeys(p.agent, p.agent, p.taskId, p.attempt ?? 0);
    return this.ix(keys, Buffer.from([IX.expireRelease]));
  }

  /** Slash for `reason`; `victims` share the slashed part by weight (their rolled-back bonds), after the treasury's share. */
  async slash(p: {
    agent: PublicKey;
    taskId: string;
    attempt?: number;
    reason: SlashReason;
    treasury: PublicKey;
    victims?: Array<{ agent: PublicKey; weight: bigint | number }>;
  }): Promise<TransactionInstruction> {
    const victims = p.victims ?? [];
    if (victims.length > MAX_VICTIMS)
      throw new Error(`a slash pays at most ${MAX_VICTIMS} victims, got ${victims.length}`);
    const keys = await this.settlementKeys(this.authority, p.agent, p.taskId, p.attempt ?? 0);
    keys.push({ pubkey: p.treasury, isSigner: false, isWritable: true });
    for (const v of victims) keys.push({ pubkey: await this.vault(v.agent), isSigner: false, isWritable: true });
    const data = Buffer.concat([Buffer.from([IX.slash, reasonCode(p.reason)]), ...victims.map((v) => u64(v.weight))]);
    return this.ix(keys, data);
  }

  /** The record's creation (its rent from the authority) and Commit; every parent's record must exist already. */
  async commit(p: {
    taskId: string;
    agent: PublicKey;
    commitment: Buffer;
    vkeyHash: Buffer;
    parentTaskIds: string[];
    rentLamports: number;
  }): Promise<TransactionInstruction[]> {
    if (p.parentTaskIds.length > RECORD.maxParents) {
      throw new Error(`a commitment record names at most ${RECORD.maxParents} parents, got ${p.parentTaskIds.length}`);
    }
    for (const [what, b] of [
      ['commitment', p.commitment],
      ['verification key hash', p.vkeyHash],
    ] as const) {
      if (b.length !== 32) throw new Error(`the ${what} must be 32 bytes, got ${b.length}`);
    }
    const record = await this.record(p.taskId);
    const parents = await Promise.all(p.parentTaskIds.map((t) => this.record(t)));
    return [
      ...this.createSeeded(
        this.authority,
        this.authority,
        recordSeed(p.taskId),
        record,
        recordLen(parents.length),
        p.rentLamports,
      ),
      this.ix(
        [
          { pubkey: this.config, isSigner: false, isWritable: false },
          { pubkey: this.authority, isSigner: true, isWritable: true },
          { pubkey: record, isSigner: false, isWritable: true },
          ...parents.map((pubkey) => ({ pubkey, isSigner: false, isWritable: false })),
        ],
        Buffer.concat([Buffer.from([IX.commit]), taskHash(p.taskId), p.agent.toBuffer(), p.commitment, p.vkeyHash]),
      ),
    ];
  }

  async settleRecord(p: { taskId: string; status: 'confirmed' | 'failed' }): Promise<TransactionInstruction> {
    return this.ix(
      [
        { pubkey: this.config, isSigner: false, isWritable: false },
        { pubkey: this.authority, isSigner: true, isWritable: false },
        { pubkey: await this.record(p.taskId), isSigner: false, isWritable: true },
      ],
      Buffer.from([IX.settleRecord, p.status === 'confirmed' ? 2 : 3]),
    );
  }

  async closeRecord(p: { taskId: string }): Promise<TransactionInstruction> {
    return this.ix(
      [
        { pubkey: this.config, isSigner: false, isWritable: false },
        { pubkey: this.authority, isSigner: true, isWritable: true },
        { pubkey: await this.record(p.taskId), isSigner: false, isWritable: true },
        { pubkey: this.authority, isSigner: true, isWritable: true },
      ],
      Buffer.from([IX.closeRecord]),
    );
  }
}

/** The rules a config holds; percentages in basis points (1/10,000). */
export interface ConfigRules {
  treasuryShareBps: number;
  slashBps: Record<SlashReason, number>;
  minStake: bigint | number;
  stakePerDepth: bigint | number;
  maxStake: bigint | number;
  bondExpirySecs: bigint | number;
  recordRetentionSecs: bigint | number;
}

function encodeRules(tag: number, r: ConfigRules): Buffer {
  const b = Buffer.alloc(51);
  b[0] = tag;
  b.writeUInt16LE(r.treasuryShareBps, 1);
  SLASH_REASONS.forEach((reason, i) => b.writeUInt16LE(r.slashBps[reason], 3 + 2 * i));
  b.writeBigUInt64LE(BigInt(r.minStake), 11);
  b.writeBigUInt64LE(BigInt(r.stakePerDepth), 19);
  b.writeBigUInt64LE(BigInt(r.maxStake), 27);
  b.writeBigInt64LE(BigInt(r.bondExpirySecs), 35);
  b.writeBigInt64LE(BigInt(r.recordRetentionSecs), 43);
  return b;
}

export function reasonCode(reason: SlashReason): number {
  const i = SLASH_REASONS.indexOf(reason);
  if (i < 0) throw new Error(`unknown slash reason ${JSON.stringify(reason)}: one of ${SLASH_REASONS.join(', ')}`);
  return i;
}

function u64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
