/** What the stake activities and operator functions share: the chain, the keys, and small helpers. */
import * as path from 'node:path';
import type { ChainPort } from './port';
import { BankrunChain } from './bankrun-chain';
import { DEFAULT_ACCOUNTS_FILE } from './chain-files';
import { RpcChain } from './rpc-chain';
import { DEFAULT_KEYS_DIR, KeyStore } from './keys';
import { chainFailure, retryableChainFailure } from './errors';
import { buildTreasuryFundTx } from './transactions';

export interface StakeDeps {
  chain: ChainPort;
  keys: KeyStore;
}

export interface OpenStakeDepsOptions {
  /** A cluster URL; default `$SOLANA_RPC_URL`. When absent the embedded chain is used. */
  rpcUrl?: string;
  /** Embedded chain state; default `$AGENC_CHAIN_FILE` or `.data/chain/svm-accounts.json`. */
  accountsFile?: string;
  /** Default `$AGENC_KEYS_DIR` or `.data/keys`. */
  keysDir?: string;
}

/**
 * Opens the chain named by the environment (RPC if SOLANA_RPC_URL is set, else the embedded SVM).
 * SOLANA_WS_URL: where signature subscriptions go, when not at the RPC URL's port + 1.
 */
export async function openStakeDeps(options: OpenStakeDepsOptions = {}): Promise<StakeDeps> {
  const rpcUrl = options.rpcUrl ?? process.env.SOLANA_RPC_URL;
  const keys = new KeyStore(options.keysDir ?? process.env.AGENC_KEYS_DIR ?? DEFAULT_KEYS_DIR);
  const chain: ChainPort = rpcUrl
    ? new RpcChain(rpcUrl, { wsEndpoint: process.env.SOLANA_WS_URL })
    : await BankrunChain.open({
        accountsFile: options.accountsFile ?? process.env.AGENC_CHAIN_FILE ?? path.resolve(DEFAULT_ACCOUNTS_FILE),
      });
  return { chain, keys };
}

/** The authority keeps at least this much for fees; the embedded faucet tops it up with AUTHORITY_TOP_UP. */
export const AUTHORITY_MIN_LAMPORTS = 10_000_000;
const AUTHORITY_TOP_UP = 10_000_000_000;

export async function ensureAuthorityFunded(deps: StakeDeps): Promise<void> {
  const authority = deps.keys.authority().publicKey;
  const lamports = await deps.chain.getLamports(authority);
  if (lamports >= AUTHORITY_MIN_LAMPORTS) return;
  if (deps.chain.kind === 'embedded') {
    await deps.chain.airdrop(authority, AUTHORITY_TOP_UP);
    return;
  }
  throw retryableChainFailure(
    'AuthorityUnfunded',
    `the protocol authority ${authority.toBase58()} holds ${lamports} lamports and pays every fee; ` +
      `fund it with at least ${AUTHORITY_MIN_LAMPORTS} lamports (e.g. \`solana transfer ${authority.toBase58()} 0.1\`)`,
  );
}

/** The treasury must be rent-exempt before a slash smaller than the rent minimum can land in it. */
export async function ensureTreasuryFunded(deps: StakeDeps, rentMinimum: number): Promise<void> {
  const treasury = deps.keys.treasury().publicKey;
  const lamports = await deps.chain.getLamports(treasury);
  if (lamports >= rentMinimum) return;
  const authority = deps.keys.authority();
  await deps.chain.send(
    buildTreasuryFundTx({ authority: authority.publicKey, treasury, amount: rentMinimum - lamports }),
    [authority],
  );
}

/** Throws InvalidAmount unless `value` is a safe integer ≥ `min`. */
export function requireLamports(what: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw chainFailure(
      'InvalidAmount',
      `${what} must be a whole number of lamports ≥ ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Split a bond: floor(amount × percentage) to the treasury, the rest back. The percentage is taken as
 * the decimal it prints as (0.29 is 29/100), so float rounding cannot move a lamport.
 */
export function splitSlash(amount: number, slashPercentage: number): { slashed: number; returned: number } {
  if (
    typeof slashPercentage !== 'number' ||
    !Number.isFinite(slashPercentage) ||
    slashPercentage < 0 ||
    slashPercentage > 1
  ) {
    throw chainFailure(
      'InvalidAmount',
      `slashPercentage must be a number in [0, 1], got ${JSON.stringify(slashPercentage)}`,
    );
  }
  const [numerator, denominator] = decimalFraction(slashPercentage);
  const slashed = Number((BigInt(amount) * numerator) / denominator);
  return { slashed, returned: amount - slashed };
}

function decimalFraction(x: number): [bigint, bigint] {
  const [mantissa = '0', exponentText] = x.toString().split('e');
  const exponent = exponentText ? Number(exponentText) : 0;
  const [whole = '0', fraction = ''] = mantissa.split('.');
  let numerator = BigInt(whole + fraction);
  let denominator = 10n ** BigInt(fraction.length);
  if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
  else denominator *= 10n ** BigInt(-exponent);
  return [numerator, denominator];
}
