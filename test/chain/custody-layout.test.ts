/**
 * The TypeScript mirror of the custody program's layouts, instruction tags and error codes
 * (activities/chain/custody/) says what the Rust source says: read from programs/custody/src.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CUSTODY_ERRORS } from '../../activities/chain/custody/errors';
import { BOND, CONFIG, IX, RECORD, SLASH_REASONS, TAG, VAULT } from '../../activities/chain/custody/layout';
import { PROJECT_ROOT } from '../helpers/paths';

const source = (file: string) => fs.readFileSync(path.join(PROJECT_ROOT, 'programs/custody/src', file), 'utf8');

/** `pub const NAME: type = value;` → { NAME: value } (numbers only). */
function constants(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/pub const ([A-Z0-9_]+): [a-z0-9]+ = ([0-9_]+);/g))
    out[m[1]!] = Number(m[2]!.replace(/_/g, ''));
  return out;
}

test('account layouts', () => {
  const rust = constants(source('state.rs'));
  const expected: Record<string, number> = {
    TAG_CONFIG: TAG.config,
    TAG_VAULT: TAG.vault,
    TAG_BOND: TAG.bond,
    TAG_RECORD: TAG.record,
    REASONS: SLASH_REASONS.length,
    CONFIG_LEN: CONFIG.len,
    CONFIG_TREASURY_SHARE_BPS: CONFIG.treasuryShareBps,
    CONFIG_SLASH_BPS: CONFIG.slashBps,
    CONFIG_AUTHORITY: CONFIG.authority,
    CONFIG_TREASURY: CONFIG.treasury,
    CONFIG_MIN_STAKE: CONFIG.minStake,
    CONFIG_STAKE_PER_DEPTH: CONFIG.stakePerDepth,
    CONFIG_MAX_STAKE: CONFIG.maxStake,
    CONFIG_BOND_EXPIRY: CONFIG.bondExpiry,
    CONFIG_RECORD_RETENTION: CONFIG.recordRetention,
    VAULT_LEN: VAULT.len,
    VAULT_DELEGATED: VAULT.delegated,
    VAULT_CONFIG: VAULT.config,
    VAULT_AGENT: VAULT.agent,
    VAULT_RESERVE: VAULT.reserve,
    VAULT_ACCOUNTED: VAULT.accounted,
    VAULT_DEPOSITED: VAULT.deposited,
    VAULT_WITHDRAWN: VAULT.withdrawn,
    VAULT_BONDED: VAULT.bonded,
    VAULT_SLASHED: VAULT.slashed,
    VAULT_COMPENSATED: VAULT.compensated,
    BOND_LEN: BOND.len,
    BOND_DEPTH: BOND.depth,
    BOND_CONFIG: BOND.config,
    BOND_VAULT: BOND.vault,
    BOND_TASK: BOND.task,
    BOND_AMOUNT: BOND.amount,
    BOND_LOCKED_AT: BOND.lockedAt,
    BOND_ATTEMPT: BOND.attempt,
    RECORD_HEADER_LEN: RECORD.headerLen,
    MAX_PARENTS: RECORD.maxParents,
    RECORD_STATUS: RECORD.status,
    RECORD_PARENTS: RECORD.parents,
    RECORD_CONFIG: RECORD.config,
    RECORD_TASK: RECORD.task,
    RECORD_AGENT: RECORD.agent,
    RECORD_COMMITMENT: RECORD.commitment,
    RECORD_VKEY_HASH: RECORD.vkeyHash,
    RECORD_COMMITTED_AT: RECORD.committedAt,
    RECORD_SETTLED_AT: RECORD.settledAt,
  };
  expect(rust).toMatchObject(expected);
  // Every constant the Rust side has is mirrored (a new field cannot be forgotten here).
  const mirrored = new Set([...Object.keys(expected), 'STATUS_PENDING', 'STATUS_CONFIRMED', 'STATUS_FAILED']);
  expect(Object.keys(rust).filter((k) => !mirrored.has(k))).toEqual([]);
});

test('instruction tags', () => {
  const rust = constants(source('lib.rs'));
  const tags = Object.fromEntries(Object.entries(rust).filter(([k]) => k.startsWith('IX_')));
  const camel = (k: string) =>
    k
      .slice(3)
      .toLowerCase()
      .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  expect(Object.fromEntries(Object.entries(tags).map(([k, v]) => [camel(k), v]))).toEqual(IX);
});

test('error codes', () => {
  const rust = constants(source('error.rs'));
  const pascal = (k: string) => k.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
  expect(Object.fromEntries(Object.entries(rust).map(([k, v]) => [v, pascal(k)]))).toEqual(
    Object.fromEntries(Object.entries(CUSTODY_ERRORS).map(([code, [name]]) => [code, name])),
  );
});
