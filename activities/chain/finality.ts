/**
 * Which commitment level counts as final on a cluster. A send returns once its transaction is
 * `confirmed` (voted by a supermajority: a dependent may send its own commitment then); a commitment is
 * `confirmed` for the task, and a bond is released or slashed, only at the finality level:
 *   finalized (default)  rooted, cannot be rolled back; about 13 s after confirmed on mainnet
 *   confirmed            what this system counted as final before: about 1 s, and a fork can still drop it
 * `SOLANA_FINALITY` chooses. The embedded chain emulates the wait instead (AGENC_EMBEDDED_FINALITY_MS).
 */
export type FinalityLevel = 'confirmed' | 'finalized';

export const FINALITY_LEVELS: readonly FinalityLevel[] = ['confirmed', 'finalized'];

export function finalityLevel(raw = process.env.SOLANA_FINALITY): FinalityLevel {
  if (raw === undefined || raw === '') return 'finalized';
  if ((FINALITY_LEVELS as readonly string[]).includes(raw)) return raw as FinalityLevel;
  throw new Error(`SOLANA_FINALITY=${raw} is not a finality level: use one of ${FINALITY_LEVELS.join(', ')}`);
}
