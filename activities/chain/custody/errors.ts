/**
 * The custody program's refusals (programs/custody/src/error.rs), by code, with what each means to an
 * operator. A refused transaction's error carries "custom program error: 0x<code>".
 */
export const CUSTODY_ERRORS = {
  1: ['InvalidInstruction', 'the instruction data or its accounts are not what the instruction takes'],
  2: ['MissingSignature', 'an account that must sign did not'],
  3: ['WrongAuthority', "the signer (or rent receiver) is not the config's authority"],
  4: ['WrongOwner', 'an account is not owned by the custody program, or is another kind of custody account'],
  5: ['AlreadyInitialized', 'the account was initialised already'],
  6: ['NotInitialized', 'the account was created but never initialised'],
  7: ['WrongAccountSize', "the account's size is not the one its kind needs"],
  8: ['WrongAddress', 'the account is not at the address derived from the authority and the task (attempt)'],
  9: ['ConfigMismatch', 'the account belongs to another config'],
  10: ['InsufficientStake', "the vault's available stake (above its rent reserve, outside bonds) is too small"],
  11: ['BondNotLocked', 'the bond is not live (settled already, or never locked)'],
  12: ['WrongTreasury', "the treasury account is not the config's treasury"],
  13: ['PercentageOutOfRange', 'a percentage (basis points) is above 10,000'],
  14: ['ParentMissing', "a parent's commitment record does not exist: parents commit first"],
  15: ['NotExpired', "the bond's expiry has not passed yet"],
  16: ['RecordNotPending', 'the commitment record is settled already'],
  17: ['Overflow', 'an amount does not fit in 64 bits'],
  18: [
    'InvalidStakeRule',
    'the stake rule needs 0 < min_stake ≤ max_stake, a positive bond expiry and a retention ≥ 0',
  ],
  19: ['WrongVault', 'the bond belongs to another vault (or a victim is the slashed vault)'],
  20: ['NotDelegated', 'the agent has not delegated bonding of its stake to the authority'],
  21: ['ParentFailed', "a parent's commitment record is marked failed"],
  22: ['RetentionNotElapsed', "the record's retention has not passed since it was settled"],
  23: ['UnsupportedRent', "the cluster's rent exemption threshold is not the standard 2 years"],
  24: ['WrongAgent', "the signer is not the vault's agent"],
  25: ['NotWritable', 'an account the instruction changes was passed read-only'],
  26: ['TooManyAccounts', 'more accounts than the program reads'],
  27: ['InvalidReason', 'the slash reason code is not one the config has'],
  28: ['RecordNotSettled', 'the commitment record is still pending'],
} as const satisfies Record<number, readonly [string, string]>;

/** What the program logs before it returns an error (programs/custody/src/lib.rs). */
export const REFUSED_LOG = 'agenc-custody: refused';

export type CustodyErrorName = (typeof CUSTODY_ERRORS)[keyof typeof CUSTODY_ERRORS][0];

/**
 * The custody refusal in a failed transaction's error text and logs, if it was the custody program that
 * refused (its log line says so: other programs' custom errors share the numbers).
 */
export function custodyError(text: string): { code: number; name: CustodyErrorName; meaning: string } | null {
  if (!text.includes(REFUSED_LOG)) return null;
  // "custom program error: 0x11" (simulation, the embedded chain) or {"Custom":17} (a status on a cluster)
  const hex = /custom program error: 0x([0-9a-f]+)/i.exec(text);
  const dec = /"Custom":(\d+)/.exec(text);
  if (!hex && !dec) return null;
  const code = hex ? parseInt(hex[1] as string, 16) : Number(dec![1]);
  const entry = CUSTODY_ERRORS[code as keyof typeof CUSTODY_ERRORS];
  return entry ? { code, name: entry[0], meaning: entry[1] } : null;
}
