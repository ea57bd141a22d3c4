/**
 * Temporal activities that bond, release and slash speculation stake.
 *
 * Idempotency comes from the chain itself, not from local state: a task's bond lives at an address
 * derived from its id, so every attempt looks at that address first, and what decides is what the
 * authority signed there (the lock and settlement memos in the address's history), not that an account
 * exists: anyone can transfer lamports to a derivable address.
 *   lock:    the authority's lock for this task, agent and amount, with the account holding it →
 *            alreadyLocked (CreateAccountWithSeed would fail anyway: a bond cannot be created twice);
 *            a settled bond, another lock, or lamports no lock put there → BondUnusable (non-retryable,
 *            nothing moved): the task runs without speculation.
 *   release/slash: no live lock → alreadySettled, with the outcome and amounts read from the settlement
 *            memo in the bond's history (so a retried slash still reports what was slashed), or
 *            never_locked; lamports at the address that no lock put there are left alone.
 * A send that throws (timeout, crash of the RPC, ...) is followed by the same look: if the effect is on
 * chain the attempt succeeds; if not, the error is rethrown and Temporal retries. Lamports never move twice.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../../shared/activity-contract';
import type { LockBondResult, SettleBondResult } from '../../shared/stake-records';
import type { ChainPort } from './port';
import { validateTaskId } from './addresses';
import { bondAmount, type BondStakeRule } from './bond-amount';
import { chainFailure } from './errors';
import { validateAgentName } from './keys';
import { bondHistory, parseMemos, type BondHistory } from './ledger';
import { buildLockTx, buildReleaseTx, buildSlashTx } from './transactions';
import {
  agentStake,
  ensureAuthorityFunded,
  ensureTreasuryFunded,
  splitSlash,
  taskBond,
  type StakeDeps,
} from './context';

/** What lockBond found at a bond address it cannot use (the `found` of BondUnusable's details). */
export type BondFound = 'settled' | 'other_lock' | 'unlocked_lamports';

export interface LockBondInput {
  taskId: string;
  agent: string;
  /** Number of unconfirmed ancestors at the moment of speculation. */
  depth: number;
  stake: BondStakeRule;
}

export interface ReleaseBondInput {
  taskId: string;
  agent: string;
  reason: string;
}

export interface SlashBondInput {
  taskId: string;
  agent: string;
  /** Fraction in [0, 1] of the bond that goes to the treasury (floored to whole lamports). */
  slashPercentage: number;
  reason: string;
}

export interface StakeActivities {
  lockBond(input: LockBondInput): Promise<LockBondResult>;
  releaseBond(input: ReleaseBondInput): Promise<SettleBondResult>;
  slashBond(input: SlashBondInput): Promise<SettleBondResult>;
}

export function createStakeActivities(deps: StakeDeps): StakeActivities {
  const { chain, keys } = deps;
  let rentMinimum: number | null = null;
  const rent = async (): Promise<number> => (rentMinimum ??= await chain.rentExemptMinimum(0));

  async function readBondHistory(address: Parameters<ChainPort['getMemoHistory']>[0]): Promise<BondHistory> {
    const authority = keys.authority().publicKey.toBase58();
    return bondHistory(parseMemos(await chain.getMemoHistory(address), authority));
  }

  function settledResult(
    base: { taskId: string; agent: string; bondAddress: string },
    history: BondHistory,
  ): SettleBondResult {
    const s = history.settlement;
    if (!s) return { ...base, outcome: 'never_locked', slashed: 0, returned: 0, signature: null, alreadySettled: true };
    if (s.memo.action === 'slash') {
      return {
        ...base,
        outcome: 'slashed',
        slashed: s.memo.slashed,
        returned: s.memo.returned,
        signature: s.signature,
        alreadySettled: true,
      };
    }
    return {
      ...base,
      outcome: 'released',
      slashed: 0,
      returned: s.memo.amount,
      signature: s.signature,
      alreadySettled: true,
    };
  }

  function checkOwner(history: BondHistory, taskId: string, agent: string): void {
    const owner = history.lock?.memo.agent;
    if (owner !== undefined && owner !== agent) {
      throw chainFailure(
        'BondAgentMismatch',
        `the bond for task ${taskId} was locked by agent "${owner}", not "${agent}"; nothing was moved`,
      );
    }
  }

  async function lockBond(input: LockBondInput): Promise<LockBondResult> {
    const taskId = validateTaskId(input.taskId);
    const agent = validateAgentName(input.agent);
    const amount = bondAmount(input.depth, input.stake);
    keys.agent(agent); // UnknownAgent if there is no wallet
    const authority = keys.authority();
    const stake = await agentStake(authority.publicKey, agent);
    const bond = await taskBond(authority.publicKey, taskId);
    const base = { taskId, agent, bondAddress: bond.address.toBase58() };

    const rentMin = await rent();
    if (amount < rentMin) {
      throw chainFailure(
        'InvalidAmount',
        `bond for task ${taskId} would be ${amount} lamports, below the rent-exempt minimum of ${rentMin} for an account; ` +
          `raise speculation.stake.min_stake to at least ${rentMin}`,
      );
    }

    const existing = await findLock();
    if (existing.kind === 'locked') return existing.result;
    if (existing.kind === 'unusable') throw existing.failure;

    const stakeLamports = await chain.getLamports(stake.address);
    const available = Math.max(0, stakeLamports - rentMin);
    if (amount > available) {
      throw chainFailure(
        'StakeInsufficientFunds',
        `agent "${agent}" has ${available} lamports available in stake account ${stake.address.toBase58()} ` +
          `(${stakeLamports} held, ${Math.min(stakeLamports, rentMin)} kept as rent reserve) but the bond for task ${taskId} at depth ${input.depth} ` +
          `requires ${amount}; deposit more with \`agenc stake init --agent ${agent} --amount <lamports>\``,
      );
    }

    await ensureAuthorityFunded(deps);
    const tx = buildLockTx({
      authority: authority.publicKey,
      stake,
      bond,
      amount,
      memo: { action: 'lock', task: taskId, agent, depth: input.depth, amount },
    });
    try {
      const { signature } = await chain.send(tx, [authority]);
      return { ...base, amount, signature, alreadyLocked: false };
    } catch (err) {
      // The send may have landed before it failed (a timeout, the RPC dying), or another attempt locked
      // first (CreateAccountWithSeed then refuses): the same look decides, and only a lock with this
      // content counts as landed. An account with no lock memo yet may be this very lock on a node whose
      // history lags behind its accounts: the send's own (retryable) error, so the next attempt looks again.
      const landed = await findLock().catch(() => null);
      if (landed?.kind === 'locked') return landed.result;
      if (landed?.kind === 'unusable' && landed.found !== 'unlocked_lamports') throw landed.failure;
      throw err;
    }

    type Found =
      | { kind: 'empty' }
      | { kind: 'locked'; result: LockBondResult }
      | { kind: 'unusable'; found: BondFound; failure: ApplicationFailure };

    function unusable(found: BondFound, what: string, extra: Record<string, unknown> = {}): Found {
      const failure = chainFailure(
        FAILURE_TYPES.bondUnusable,
        `${what}; task ${taskId} will run without speculation; nothing was moved`,
        {
          found,
          bondAddress: base.bondAddress,
          ...extra,
        },
      );
      return { kind: 'unusable', found, failure };
    }

    /**
     * What is at the bond address: this task's lock (a retry), nothing, or something unusable. What the
     * authority signed decides, not that an account exists: anyone can transfer lamports to a derivable
     * address, and an account there is this task's bond only if the authority's lock memo names this task,
     * this agent and this amount, and the account still holds that amount.
     */
    async function findLock(): Promise<Found> {
      const account = await chain.getAccount(bond.address);
      const { lock, settlement } = await readBondHistory(bond.address);
      const address = base.bondAddress;
      if (settlement) {
        // A workflow reset or a reused task id: the bond this task id had is gone back to the stake (or the treasury).
        const refilled = account ? `; ${account.lamports} lamports sent to its address since are no bond` : '';
        return unusable(
          'settled',
          `bond for task ${taskId} was already locked and ${settlement.memo.action === 'slash' ? 'slashed' : 'released'} at signature ${settlement.signature}; ` +
            `a settled bond cannot back a new speculation${refilled}`,
          { signature: settlement.signature },
        );
      }
      if (lock) {
        const m = lock.memo;
        if (m.task !== taskId || m.agent !== agent || m.amount !== amount) {
          return unusable(
            'other_lock',
            `bond ${address} of task ${taskId} was locked with ${m.amount} lamports of agent "${m.agent}"'s stake (depth ${m.depth}, signature ${lock.signature}) ` +
              `but this speculation needs ${amount} of agent "${agent}" at depth ${input.depth}; that lock is still live (releaseBond for task ${taskId} returns it)`,
            { signature: lock.signature, lockedAmount: m.amount, lockedAgent: m.agent },
          );
        }
        // More than the lock is fine (anyone can add lamports; only the authority can take them out), less is not a lock.
        if (!account || account.lamports < amount) {
          return unusable(
            'other_lock',
            `the lock of ${amount} lamports for task ${taskId} (signature ${lock.signature}) is recorded, but bond ${address} holds ${account?.lamports ?? 0} lamports ` +
              'with no settlement recorded',
            { signature: lock.signature },
          );
        }
        return { kind: 'locked', result: { ...base, amount, signature: lock.signature, alreadyLocked: true } };
      }
      if (account) {
        // A plain transfer to the derived address creates the account; CreateAccountWithSeed then refuses
        // the address for good, so this task id can never be bonded, and the dust there is not at risk.
        return unusable(
          'unlocked_lamports',
          `bond address ${address} of task ${taskId} holds ${account.lamports} lamports that no lock signed by the authority put there ` +
            '(a transfer from someone else); the bond cannot be created at an address that already holds lamports',
          { lamports: account.lamports },
        );
      }
      return { kind: 'empty' };
    }
  }

  async function settle(
    input: { taskId: string; agent: string; reason: string },
    slashPercentage: number | null,
  ): Promise<SettleBondResult> {
    const taskId = validateTaskId(input.taskId);
    const agent = validateAgentName(input.agent);
    if (slashPercentage !== null) splitSlash(0, slashPercentage); // InvalidAmount before anything else
    const reason = typeof input.reason === 'string' ? input.reason : '';
    keys.agent(agent);
    const authority = keys.authority();
    const stake = await agentStake(authority.publicKey, agent);
    const bond = await taskBond(authority.publicKey, taskId);
    const base = { taskId, agent, bondAddress: bond.address.toBase58() };

    const account = await chain.getAccount(bond.address);
    const history = await readBondHistory(bond.address);
    checkOwner(history, taskId, agent);
    // Only a live lock the authority signed is a bond: lamports someone else sent to the address (before
    // any lock, or after the settlement) are not this task's to release or slash.
    if (!account || !history.lock || history.settlement) return settledResult(base, history);

    const amount = account.lamports;
    await ensureAuthorityFunded(deps);
    let tx;
    let slashed = 0;
    let returned = amount;
    if (slashPercentage === null) {
      tx = buildReleaseTx({
        authority: authority.publicKey,
        bond,
        stake: stake.address,
        amount,
        memo: { action: 'release', task: taskId, agent, amount, reason },
      });
    } else {
      ({ slashed, returned } = splitSlash(amount, slashPercentage));
      if (slashed > 0) await ensureTreasuryFunded(deps, await rent());
      tx = buildSlashTx({
        authority: authority.publicKey,
        bond,
        stake: stake.address,
        treasury: keys.treasury().publicKey,
        slashed,
        returned,
        memo: {
          action: 'slash',
          task: taskId,
          agent,
          amount,
          slashed,
          returned,
          slash_percentage: slashPercentage,
          reason,
        },
      });
    }
    try {
      const { signature } = await chain.send(tx, [authority]);
      return {
        ...base,
        outcome: slashPercentage === null ? 'released' : 'slashed',
        slashed,
        returned,
        signature,
        alreadySettled: false,
      };
    } catch (err) {
      const stillThere = await chain.getAccount(bond.address).catch(() => account);
      if (stillThere) throw err;
      return settledResult(base, await readBondHistory(bond.address));
    }
  }

  return {
    lockBond,
    releaseBond: (input) => settle(input, null),
    slashBond: (input) => settle(input, input.slashPercentage),
  };
}
