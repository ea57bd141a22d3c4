/** Test fixtures for the chain module: a real embedded SVM and key store in a fresh temp dir per test. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PublicKey } from '@solana/web3.js';
import {
  BankrunChain,
  KeyStore,
  bondAddress,
  createStakeActivities,
  createStakeOperator,
  stakeAddress,
  type ChainPort,
  type StakeActivities,
  type StakeDeps,
  type StakeOperator,
} from '../../activities/chain';
import { BOND } from '../../activities/chain/custody/layout';

export const STAKE = { min_stake: 1_000_000, max_stake: 1_000_000_000, stake_per_depth: 500_000 };

export interface ChainEnv {
  dir: string;
  accountsFile: string;
  deps: StakeDeps;
  chain: ChainPort;
  keys: KeyStore;
  activities: StakeActivities;
  operator: StakeOperator;
  close(): Promise<void>;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'agenc-chain-'));
}

/** The key store under `dir/keys` with the protocol authority made, as a new system's set-up makes it. */
export function testKeys(dir: string): KeyStore {
  const keys = new KeyStore(path.join(dir, 'keys'));
  keys.createAuthority();
  return keys;
}

export async function embeddedEnv(dir = tempDir()): Promise<ChainEnv> {
  const accountsFile = path.join(dir, 'chain', 'svm-accounts.json');
  const chain = await BankrunChain.open({ accountsFile });
  return envFor({ chain, keys: testKeys(dir) }, dir, accountsFile);
}

export function envFor(deps: StakeDeps, dir: string, accountsFile = ''): ChainEnv {
  return {
    dir,
    accountsFile,
    deps,
    chain: deps.chain,
    keys: deps.keys,
    activities: createStakeActivities(deps),
    operator: createStakeOperator(deps),
    close: () => deps.chain.close(),
  };
}

export interface Balances {
  wallet: number;
  stake: number;
  bond: number;
  treasury: number;
}

/**
 * Lamports of the accounts a bond touches (the authority is left out: it pays fees and the bond
 * account's rent, which is not counted in `bond`).
 */
export async function balances(env: ChainEnv, agent: string, taskId: string): Promise<Balances> {
  const authority = env.keys.authority().publicKey;
  const known = env.keys.hasAgent(agent);
  const addresses: PublicKey[] = [
    known ? env.keys.agentPublicKey(agent) : authority,
    known ? await stakeAddress(env.deps, agent) : authority,
    await bondAddress(env.deps, taskId),
    env.keys.treasury().publicKey,
  ];
  const [wallet = 0, stake = 0, bond = 0, treasury = 0] = await Promise.all(
    addresses.map((a) => env.chain.getLamports(a)),
  );
  const bondRent = await env.chain.rentExemptMinimum(BOND.len);
  return {
    wallet: known ? wallet : 0,
    stake: known ? stake : 0,
    bond: bond ? bond - bondRent : 0,
    treasury,
  };
}
