/**
 * Temporal activities that bond, release and slash speculation stake.
 *
 * Idempotency comes from the chain itself, not from local state: a task's bond lives at an address
 * derived from its id, so every attempt looks at that address first.
 *   lock:    bond exists → alreadyLocked (CreateAccountWithSeed would fail anyway: a bond cannot be
 *            created twice); bond gone but its history shows a lock → it was locked and settled.
 *   release/slash: bond gone → alreadySettled, with the outcome and amounts read from the settlement
 *            memo in the bond's history (so a retried slash still reports what was slashed).
 * A send that throws (timeout, crash of the RPC, ...) is followed by the same look: if the effect is on
 * chain the attempt succeeds; if not, the error is rethrown and Temporal retries. Lamports never move twice.
 */
import type { LockBondResult, SettleBondResult } from '../../shared/stake-records';
import type { ChainPort } from './port';
import { validateTaskId } from './addresses';
import { bondAmount, type BondStakeRule } from './bond-amount';
import { chainFailure } from './errors';
import { validateAgentName } from './keys';
import { bondHistory, parseMemos, type BondHistory } from './ledger';
import { buildLockTx, buildReleaseTx, buildSlashTx } from './transactions';
import { agentStake, ensureAuthorityFunded, ensureTreasuryFunded, splitSlash, taskBond, type StakeDeps } from './context';

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

  function settledResult(base: { taskId: string; agent: string; bondAddress: string }, history: BondHistory): SettleBondResult {
    const s = history.settlement;
    if (!s) return { ...base, outcome: 'never_locked', slashed: 0, returned: 0, signature: null, alreadySettled: true };
    if (s.memo.action === 'slash') {
      return { ...base, outcome: 'slashed', slashed: s.memo.slashed, returned: s.memo.returned, signature: s.signature, alreadySettled: true };
    }
    return { ...base, outcome: 'released', slashed: 0, returned: s.memo.amount, signature: s.signature, alreadySettled: true };
  }

  function checkOwner(history: BondHistory, taskId: string, agent: string): void {
    const owner = history.lock?.memo.agent;
    if (owner !== undefined && owner !== agent) {
      throw chainFailure('BondAgentMismatch', `the bond for task ${taskId} was locked by agent "${owner}", not "${agent}"; nothing was moved`);
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
    if (existing) return existing;

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
      const landed = await findLock().catch(() => null);
      if (landed) return landed;
      throw err;
    }

    async function findLock(): Promise<LockBondResult | null> {
      const account = await chain.getAccount(bond.address);
      const history = await readBondHistory(bond.address);
      checkOwner(history, taskId, agent);
      if (account) {
        return { ...base, amount: account.lamports, signature: history.lock?.signature ?? null, alreadyLocked: true };
      }
      if (history.lock) {
        const settledAs = history.settlement?.memo.action === 'slash' ? 'slashed' : 'released';
        return { ...base, amount: history.lock.memo.amount, signature: history.lock.signature, alreadyLocked: true, settledAs };
      }
      return null;
    }
  }

  async function settle(input: { taskId: string; agent: string; reason: string }, slashPercentage: number | null): Promise<SettleBondResult> {
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
    if (!account) return settledResult(base, history);

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
        memo: { action: 'slash', task: taskId, agent, amount, slashed, returned, slash_percentage: slashPercentage, reason },
      });
    }
    try {
      const { signature } = await chain.send(tx, [authority]);
      return { ...base, outcome: slashPercentage === null ? 'released' : 'slashed', slashed, returned, signature, alreadySettled: false };
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
