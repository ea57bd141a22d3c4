/** Reading the custody program's accounts through a ChainPort: an account is one of the program's only if it owns it and its tag says so. */
import type { PublicKey } from '@solana/web3.js';
import type { ChainPort } from '../port';
import type { Custody } from './instructions';
import {
  TAG,
  decodeBond,
  decodeRecord,
  decodeVault,
  type BondState,
  type RecordState,
  type VaultState,
} from './layout';

/** What is at an address the program may own: its lamports, and its decoded state when it is a live account of `tag`'s kind. */
export interface Found<T> {
  lamports: number;
  /** Null: an account is there but it is not (or no longer) one of the program's of this kind. */
  state: T | null;
}

async function read<T>(
  chain: Pick<ChainPort, 'getAccount'>,
  custody: Custody,
  address: PublicKey,
  tag: number,
  decode: (d: Buffer) => T,
): Promise<Found<T> | null> {
  const account = await chain.getAccount(address);
  if (!account) return null;
  const ours = account.owner === custody.programId.toBase58() && account.data[0] === tag;
  return { lamports: account.lamports, state: ours ? decode(account.data) : null };
}

export const readVault = (chain: Pick<ChainPort, 'getAccount'>, custody: Custody, address: PublicKey) =>
  read<VaultState>(chain, custody, address, TAG.vault, decodeVault).then((f) =>
    f?.state ? { lamports: f.lamports, state: f.state } : null,
  );

export const readBond = (chain: Pick<ChainPort, 'getAccount'>, custody: Custody, address: PublicKey) =>
  read<BondState>(chain, custody, address, TAG.bond, decodeBond);

export const readRecord = (chain: Pick<ChainPort, 'getAccount'>, custody: Custody, address: PublicKey) =>
  read<RecordState>(chain, custody, address, TAG.record, decodeRecord);
