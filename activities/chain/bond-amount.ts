/**
 * The bond rule (the runbook's linear rule), the one place it lives:
 *   bond = min(max_stake, min_stake + depth × stake_per_depth)
 * Imports nothing from Node, so workflow code may use it too.
 */
import { chainFailure } from './errors';
import type { BondStakeRule } from '../../shared/stake-records';

export type { BondStakeRule };

export function bondAmount(depth: number, stake: BondStakeRule): number {
  if (!Number.isSafeInteger(depth) || depth < 0) {
    throw chainFailure('InvalidAmount', `speculation depth must be a whole number ≥ 0, got ${JSON.stringify(depth)}`);
  }
  for (const key of ['min_stake', 'max_stake', 'stake_per_depth'] as const) {
    const v = stake?.[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw chainFailure(
        'InvalidAmount',
        `speculation.stake.${key} must be a whole number of lamports ≥ 0, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (stake.min_stake > stake.max_stake) {
    throw chainFailure(
      'InvalidStakeConfig',
      `speculation.stake.min_stake (${stake.min_stake}) is above speculation.stake.max_stake (${stake.max_stake})`,
    );
  }
  const linear = stake.min_stake + depth * stake.stake_per_depth;
  return Number.isSafeInteger(linear) ? Math.min(stake.max_stake, linear) : stake.max_stake;
}
