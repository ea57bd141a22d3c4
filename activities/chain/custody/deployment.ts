/**
 * Where this deployment's custody program is, making sure it is there with its config, and keeping the
 * config's rules equal to the speculation config's.
 *
 * The program id: `$AGENC_CUSTODY_PROGRAM_ID`, else the key file `<keysDir>/custody-program.json`. On the
 * embedded chain the first use deploys it (through the upgradeable loader, from the .so the set-up built,
 * programs/build) with that key, made then if missing; on a cluster it is deployed on purpose with
 * `agenc admin deploy-program`, and a missing program is refused with that advice.
 *
 * The config's rules follow the TOML: a bond or slash whose rule differs from the config's sends
 * UpdateConfig first (the authority may change its rules; the program makes every bond and slash obey
 * the config that is on chain when it runs, and refuses rules out of range).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PublicKey, Transaction } from '@solana/web3.js';
import type { BondStakeRule } from '../../../shared/stake-records';
import { chainFailure, retryableChainFailure } from '../errors';
import type { StakeDeps } from '../context';
import { BPF_LOADER_UPGRADEABLE_ID, deployProgram } from '../program-deploy';
import { Custody, type ConfigRules } from './instructions';
import { CONFIG, SLASH_REASONS, decodeConfig, type ProgramConfig, type SlashReason } from './layout';

export const PROGRAM_KEY_FILE = 'custody-program.json';
/** The .so the set-up builds (programs/build/build-program.ts); `$AGENC_CUSTODY_SO` points elsewhere. */
export const DEFAULT_PROGRAM_SO = '.data/programs/custody.so';

/** A bond the authority has not settled this long after its lock is its agent's to release. */
export const DEFAULT_BOND_EXPIRY_SECS = 7 * 24 * 3600;
/** Settled commitment records can be closed (their rent returned) this long after settlement. */
export const DEFAULT_RECORD_RETENTION_SECS = 24 * 3600;
/** The treasury's share of a slash when rolled-back victims share it: the seed design's 50/50. */
export const DEFAULT_TREASURY_SHARE_BPS = 5_000;

const custodies = new WeakMap<StakeDeps, Promise<Custody>>();

/** The deployment's custody program and its config, deployed / created first on the embedded chain if they are not yet. Cached per deps. */
export function custodyOf(deps: StakeDeps): Promise<Custody> {
  let found = custodies.get(deps);
  if (!found) {
    found = locate(deps);
    found.catch(() => custodies.delete(deps));
    custodies.set(deps, found);
  }
  return found;
}

function programKeyFile(deps: Pick<StakeDeps, 'keys'>): string {
  return path.join(deps.keys.dir, PROGRAM_KEY_FILE);
}

/** The program id this deployment uses (`$AGENC_CUSTODY_PROGRAM_ID`, else its key file), without looking at the chain. */
export function custodyProgramId(deps: Pick<StakeDeps, 'keys'>): PublicKey | null {
  const fromEnv = process.env.AGENC_CUSTODY_PROGRAM_ID;
  if (fromEnv) {
    try {
      return new PublicKey(fromEnv);
    } catch {
      throw new Error(`AGENC_CUSTODY_PROGRAM_ID=${fromEnv} is not a base58 Solana address`);
    }
  }
  const file = programKeyFile(deps);
  return fs.existsSync(file) ? deps.keys.keypairAt(file).publicKey : null;
}

async function locate(deps: StakeDeps): Promise<Custody> {
  const authority = deps.keys.authority().publicKey;
  let programId = custodyProgramId(deps);
  if (!programId || !(await isDeployed(deps, programId))) {
    if (deps.chain.kind !== 'embedded') {
      throw retryableChainFailure(
        'ProgramNotDeployed',
        programId
          ? `the custody program ${programId.toBase58()} is not deployed on this cluster: run \`agenc admin deploy-program\``
          : `no custody program is configured: run \`agenc admin deploy-program\` (it writes ${programKeyFile(deps)}), or set AGENC_CUSTODY_PROGRAM_ID`,
      );
    }
    programId = (await deployCustody(deps)).programId;
  }
  // Once per process: every instruction needs the config, so it exists before anything is sent.
  const custody = await Custody.at(programId, authority);
  await ensureConfig(deps, custody);
  return custody;
}

async function isDeployed(deps: StakeDeps, programId: PublicKey): Promise<boolean> {
  const account = await deps.chain.getAccount(programId);
  return account !== null && account.owner === BPF_LOADER_UPGRADEABLE_ID.toBase58();
}

/**
 * Deploys the custody program with this deployment's program key (made if missing) from the built .so,
 * the authority paying. Idempotent: a deployed program with the same bytes is left as it is.
 */
export async function deployCustody(
  deps: StakeDeps,
  opts: { soPath?: string } = {},
): Promise<{ programId: PublicKey; signatures: string[]; alreadyDeployed: boolean; soPath: string }> {
  const soPath = path.resolve(opts.soPath ?? process.env.AGENC_CUSTODY_SO ?? DEFAULT_PROGRAM_SO);
  if (!fs.existsSync(soPath)) {
    throw retryableChainFailure(
      'ProgramNotBuilt',
      `the custody program is not built at ${soPath}: run \`npm run build:program\` (npm start and npm test build it)`,
    );
  }
  const programKey = deps.keys.loadOrCreateKeypair(programKeyFile(deps));
  if (
    process.env.AGENC_CUSTODY_PROGRAM_ID &&
    process.env.AGENC_CUSTODY_PROGRAM_ID !== programKey.publicKey.toBase58()
  ) {
    throw new Error(
      `AGENC_CUSTODY_PROGRAM_ID=${process.env.AGENC_CUSTODY_PROGRAM_ID} is not the program key at ${programKeyFile(deps)} (${programKey.publicKey.toBase58()}): unset it to deploy`,
    );
  }
  const authority = deps.keys.authority();
  if (deps.chain.kind === 'embedded') await deps.chain.airdrop(authority.publicKey, 20_000_000_000);
  const result = await deployProgram(deps.chain, authority, programKey, fs.readFileSync(soPath));
  // A program runs from the slot after its deploy.
  if (!result.alreadyDeployed) await deps.chain.nextSlot();
  return { ...result, soPath };
}

export async function readConfig(deps: StakeDeps, custody: Custody): Promise<ProgramConfig | null> {
  const account = await deps.chain.getAccount(custody.config);
  return account && account.owner === custody.programId.toBase58() && account.data[0]
    ? decodeConfig(account.data)
    : null;
}

/** The rules the speculation config asks for; reasons it does not name keep the config's percentages. */
export interface WantedRules {
  stake?: BondStakeRule;
  slash?: { reason: SlashReason; bps: number };
}

/**
 * Creates the config (first use) or updates its rules to `wanted`; returns the config as it then is.
 * Two workers racing to create it: one creation fails (the address is taken), and the config is read again.
 */
export async function ensureConfig(
  deps: StakeDeps,
  custody: Custody,
  wanted: WantedRules = {},
): Promise<ProgramConfig> {
  const current = await readConfig(deps, custody);
  const rules = rulesFor(current, wanted);
  if (current && sameRules(current, rules)) return current;
  const authority = deps.keys.authority();
  const treasury = deps.keys.treasury().publicKey;
  const create = current ? undefined : { rentLamports: await deps.chain.rentExemptMinimum(CONFIG.len) };
  try {
    await deps.chain.send(new Transaction().add(...custody.configure({ treasury, rules, create })), [authority]);
  } catch (err) {
    const after = await readConfig(deps, custody).catch(() => null);
    if (!after) throw err;
    if (!sameRules(after, rulesFor(after, wanted))) throw err;
    return after;
  }
  const after = await readConfig(deps, custody);
  if (!after)
    throw retryableChainFailure(
      'ConfigMissing',
      `the custody config ${custody.config.toBase58()} is not readable after it was written`,
    );
  return after;
}

function rulesFor(current: ProgramConfig | null, wanted: WantedRules): ConfigRules {
  const slashBps = { ...(current?.slashBps ?? Object.fromEntries(SLASH_REASONS.map((r) => [r, 0]))) } as Record<
    SlashReason,
    number
  >;
  if (wanted.slash) slashBps[wanted.slash.reason] = wanted.slash.bps;
  const stake = wanted.stake;
  return {
    treasuryShareBps: current?.treasuryShareBps ?? DEFAULT_TREASURY_SHARE_BPS,
    slashBps,
    minStake: stake ? BigInt(stake.min_stake) : (current?.minStake ?? 1n),
    stakePerDepth: stake ? BigInt(stake.stake_per_depth) : (current?.stakePerDepth ?? 0n),
    maxStake: stake ? BigInt(stake.max_stake) : (current?.maxStake ?? 1n),
    bondExpirySecs: current?.bondExpirySecs ?? BigInt(DEFAULT_BOND_EXPIRY_SECS),
    recordRetentionSecs: current?.recordRetentionSecs ?? BigInt(DEFAULT_RECORD_RETENTION_SECS),
  };
}

function sameRules(c: ProgramConfig, r: ConfigRules): boolean {
  return (
    c.treasuryShareBps === r.treasuryShareBps &&
    SLASH_REASONS.every((k) => c.slashBps[k] === r.slashBps[k]) &&
    c.minStake === BigInt(r.minStake) &&
    c.stakePerDepth === BigInt(r.stakePerDepth) &&
    c.maxStake === BigInt(r.maxStake) &&
    c.bondExpirySecs === BigInt(r.bondExpirySecs) &&
    c.recordRetentionSecs === BigInt(r.recordRetentionSecs)
  );
}

/** A slash percentage (a fraction in [0, 1], as the TOML has it) in basis points, as the program takes it. */
export function percentageToBps(p: number): number {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) {
    throw chainFailure('InvalidAmount', `slashPercentage must be a number in [0, 1], got ${JSON.stringify(p)}`);
  }
  return Math.round(p * 10_000);
}

/** The program's reason for a rollback reason that slashes (the others never reach a slash). */
export function slashReasonFor(reason: string): SlashReason {
  return (SLASH_REASONS as readonly string[]).includes(reason) ? (reason as SlashReason) : 'other';
}
