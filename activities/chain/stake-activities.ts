/**
 * Temporal activities that bond, release and slash speculation stake, through the custody program
 * (programs/custody): the agent's stake is in its vault, a bond is a program account per task attempt,
 * and the program, not this code, enforces the rule's amount, one bond per attempt, settling once, the
 * slash percentage for the reason and where slashed lamports go.
 *
 * Idempotency comes from the chain: a task's bond lives at an address derived from its id, and what
 * decides is the bond account's content (its task, vault and amount as the program wrote them), not
 * that an account exists there.
 *   lock:    a live bond for this task, vault and amount → alreadyLocked (the program would refuse a
 *            second one anyway); a settled bond (its settlement memo in the address's history) or a bond
 *            with other content → BondUnusable (non-retryable, nothing moved): the task runs without
 *            speculation. Lamports a stranger sent to the address are no obstacle (the bond is
 *            allocated over them).
 *   release/slash: no live bond → alreadySettled, with the outcome and amounts read from the settlement
 *            memo the authority signed in the bond's history (so a retried slash still reports what was
 *            slashed), or never_locked.
 * A send that throws (timeout, crash of the RPC, ...) is followed by the same look: if the effect is on
 * chain the attempt succeeds; if not, the error is rethrown and Temporal retries. Lamports never move twice.
 */
import { ApplicationFailure } from '@temporalio/common';
import { PublicKey, Transaction, type TransactionInstruction } from '@solana/web3.js';
import { FAILURE_TYPES } from '../../shared/activity-contract';
import type { LockBondResult, SettleBondResult } from '../../shared/stake-records';
import { validateTaskId } from './addresses';
import { bondAmount, type BondStakeRule } from './bond-amount';
import { chainFailure } from './errors';
import { validateAgentName } from './keys';
import { bondHistory, parseMemos, type BondHistory } from './ledger';
import { memoInstruction, PACKET_DATA_SIZE, serializedSize } from './transactions';
import { ensureAuthorityFunded, ensureTreasuryFunded, type StakeDeps } from './context';
import { custodyOf, ensureConfig, percentageToBps, slashReasonFor } from './custody/deployment';
import { readBond, readVault } from './custody/accounts';
import { taskHash } from './custody/instructions';
import { BOND } from './custody/layout';

/** What lockBond found at a bond address it cannot use (the `found` of BondUnusable's details). */
export type BondFound = 'settled' | 'other_lock';

/**
 * A task's attempt (1 for its first run; `checkpoint` re-attempts and `agenc task retry` count up): each has a
 * bond of its own (custody bond seed: task ‖ attempt − 1), so a retry never meets its earlier attempt's bond.
 */
export interface TaskAttempt {
  /** Absent: the first. */
  attempt?: number;
}

/** The custody program's attempt index (0-based) of a task's attempt. */
export function chainAttempt(attempt: number | undefined): number {
  return (attempt ?? 1) - 1;
}

export interface LockBondInput extends TaskAttempt {
  taskId: string;
  agent: string;
  /** Number of unconfirmed ancestors at the moment of speculation. */
  depth: number;
  stake: BondStakeRule;
}

export interface ReleaseBondInput extends TaskAttempt {
  taskId: string;
  agent: string;
  reason: string;
}

export interface SlashBondInput extends TaskAttempt {
  taskId: string;
  agent: string;
  /** Fraction in [0, 1] of the bond that goes to the treasury (floored to whole lamports); the program's config for `reason` is set to it. */
  slashPercentage: number;
  reason: string;
}

export interface ReleaseBondsInput {
  /** The bonds to release, in the order they must settle (a cascade's: each task's dependents before it). */
  bonds: Array<{ taskId: string; agent: string } & TaskAttempt>;
  /** Why, as every release's memo says it. */
  reason: string;
}

export interface StakeActivities {
  lockBond(input: LockBondInput): Promise<LockBondResult>;
  releaseBond(input: ReleaseBondInput): Promise<SettleBondResult>;
  slashBond(input: SlashBondInput): Promise<SettleBondResult>;
  releaseBonds(input: ReleaseBondsInput): Promise<SettleBondResult[]>;
}

export function createStakeActivities(deps: StakeDeps): StakeActivities {
  const { chain, keys } = deps;

  async function readBondHistory(address: PublicKey, taskId: string): Promise<BondHistory> {
    const authority = keys.authority().publicKey.toBase58();
    return bondHistory(parseMemos(await chain.getMemoHistory(address), authority), taskId);
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

  async function lockBond(input: LockBondInput): Promise<LockBondResult> {
    const taskId = validateTaskId(input.taskId);
    const agent = validateAgentName(input.agent);
    const amount = bondAmount(input.depth, input.stake);
    const agentKey = keys.agentPublicKey(agent); // UnknownAgent if there is no wallet
    const authority = keys.authority();
    const custody = await custodyOf(deps);
    const vault = await custody.vault(agentKey);
    const attempt = chainAttempt(input.attempt);
    const bond = await custody.bond(taskId, attempt);
    const base = { taskId, agent, bondAddress: bond.toBase58() };

    const existing = await findLock();
    if (existing.kind === 'locked') return existing.result;
    if (existing.kind === 'unusable') throw existing.failure;

    const stake = await readVault(chain, custody, vault);
    const available = stake ? Math.max(0, stake.lamports - Number(stake.state.reserve)) : 0;
    if (amount > available) {
      throw chainFailure(
        'StakeInsufficientFunds',
        `agent "${agent}" has ${available} lamports available in its stake vault ${vault.toBase58()} ` +
          `(outside bonds, above its rent reserve) but the bond for task ${taskId} at depth ${input.depth} ` +
          `requires ${amount}; deposit more with \`agenc stake init --agent ${agent} --amount <lamports>\``,
      );
    }

    await ensureAuthorityFunded(deps);
    await ensureConfig(deps, custody, { stake: input.stake });
    const tx = new Transaction().add(
      ...(await custody.lock({
        agent: agentKey,
        taskId,
        attempt,
        depth: input.depth,
        rentLamports: await chain.rentExemptMinimum(BOND.len),
      })),
      memoInstruction(authority.publicKey, {
        action: 'lock',
        task: taskId,
        agent,
        depth: input.depth,
        amount,
        ...(attempt > 0 ? { attempt: input.attempt } : {}),
      }),
    );
    try {
      const { signature } = await chain.send(tx, [authority]);
      return { ...base, amount, signature, alreadyLocked: false };
    } catch (err) {
      // The send may have landed before it failed (a timeout, the RPC dying), or another attempt locked
      // first (the creation then fails): the same look decides, and only a bond with this content counts.
      const landed = await findLock().catch(() => null);
      if (landed?.kind === 'locked') return landed.result;
      if (landed?.kind === 'unusable') throw landed.failure;
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
        { found, bondAddress: base.bondAddress, ...extra },
      );
      return { kind: 'unusable', found, failure };
    }

    /** What is at the bond address: this task's live bond (a retry), nothing, or something unusable. */
    async function findLock(): Promise<Found> {
      const live = await readBond(chain, custody, bond);
      const address = base.bondAddress;
      if (live?.state) {
        const b = live.state;
        if (!b.task.equals(taskHash(taskId)) || !b.vault.equals(vault) || b.amount !== BigInt(amount)) {
          return unusable(
            'other_lock',
            `bond ${address} of task ${taskId} holds a live bond of ${b.amount} lamports from vault ${b.vault.toBase58()} (depth ${b.depth}) ` +
              `but this speculation needs ${amount} of agent "${agent}"'s vault ${vault.toBase58()} at depth ${input.depth}; ` +
              `that bond is still live (releaseBond for task ${taskId} returns it)`,
            { lockedAmount: Number(b.amount), lockedVault: b.vault.toBase58() },
          );
        }
        const { lock } = await readBondHistory(bond, taskId);
        return { kind: 'locked', result: { ...base, amount, signature: lock?.signature ?? null, alreadyLocked: true } };
      }
      const { settlement } = await readBondHistory(bond, taskId);
      if (settlement) {
        // A workflow reset or a reused task id: the bond this task attempt had is settled, and the program closed it.
        return unusable(
          'settled',
          `bond for task ${taskId} was already locked and ${settlement.memo.action === 'slash' ? 'slashed' : 'released'} at signature ${settlement.signature}; ` +
            'a settled bond cannot back a new speculation',
          { signature: settlement.signature },
        );
      }
      // Lamports someone sent to the derived address are no obstacle: the lock allocates the account
      // over them (custody/instructions.ts), and they go back with its rent when the bond is settled.
      return { kind: 'empty' };
    }
  }

  async function settle(
    input: { taskId: string; agent: string; reason: string } & TaskAttempt,
    slashPercentage: number | null,
  ): Promise<SettleBondResult> {
    const taskId = validateTaskId(input.taskId);
    const agent = validateAgentName(input.agent);
    const bps = slashPercentage === null ? null : percentageToBps(slashPercentage); // InvalidAmount before anything else
    const reason = typeof input.reason === 'string' ? input.reason : '';
    const agentKey = keys.agentPublicKey(agent);
    const authority = keys.authority();
    const custody = await custodyOf(deps);
    const vault = await custody.vault(agentKey);
    const attempt = chainAttempt(input.attempt);
    const bond = await custody.bond(taskId, attempt);
    const base = { taskId, agent, bondAddress: bond.toBase58() };

    const live = (await readBond(chain, custody, bond))?.state;
    if (!live) {
      // Settled before (an attempt that died after its send, perhaps before finality): wait for it too.
      const settled = settledResult(base, await readBondHistory(bond, taskId));
      if (settled.signature) await chain.awaitFinality([settled.signature]);
      return settled;
    }
    if (!live.vault.equals(vault)) throw await agentMismatch(taskId, agent, bond, live.vault, vault);
    const amount = Number(live.amount);
    await ensureAuthorityFunded(deps);
    let slashed = 0;
    let returned = amount;
    const tx = new Transaction();
    if (bps === null) {
      tx.add(
        await custody.release({ agent: agentKey, taskId, attempt }),
        memoInstruction(authority.publicKey, { action: 'release', task: taskId, agent, amount, reason }),
      );
    } else {
      const slashReason = slashReasonFor(reason);
      await ensureConfig(deps, custody, { slash: { reason: slashReason, bps } });
      // The program's arithmetic: floor(amount × bps / 10,000) slashed, the rest back to the vault.
      slashed = Number((live.amount * BigInt(bps)) / 10_000n);
      returned = amount - slashed;
      const treasury = keys.treasury().publicKey;
      if (slashed > 0) await ensureTreasuryFunded(deps, await chain.rentExemptMinimum(0));
      tx.add(
        await custody.slash({ agent: agentKey, taskId, attempt, reason: slashReason, treasury }),
        memoInstruction(authority.publicKey, {
          action: 'slash',
          task: taskId,
          agent,
          amount,
          slashed,
          returned,
          slash_percentage: slashPercentage!,
          reason,
        }),
      );
    }
    try {
      const { signature } = await chain.send(tx, [authority]);
      // A settlement counts once final (finality.ts): the workflow goes on to tell the task settled.
      await chain.awaitFinality([signature]);
      return {
        ...base,
        outcome: bps === null ? 'released' : 'slashed',
        slashed,
        returned,
        signature,
        alreadySettled: false,
      };
    } catch (err) {
      const stillLive = await readBond(chain, custody, bond).catch(() => ({ state: live }));
      if (stillLive?.state) throw err;
      return settledResult(base, await readBondHistory(bond, taskId));
    }
  }

  /**
   * Releases many bonds in the order given, packing as many releases into each transaction as fit it
   * (one `release_batch` Memo each), the transactions sent one after the other, and waits once for the
   * finality of them all. Idempotent like releaseBond: a bond no longer live is reported from its
   * settlement memo and left out, so a retry after a crash moves nothing twice. Results in input order.
   */
  async function releaseBonds(input: ReleaseBondsInput): Promise<SettleBondResult[]> {
    const authority = keys.authority();
    const custody = await custodyOf(deps);
    const results: SettleBondResult[] = [];
    const live: Array<{ index: number; release: TransactionInstruction; amount: number; bond: PublicKey }> = [];
    const earlier: string[] = [];
    for (const [index, b] of input.bonds.entries()) {
      const taskId = validateTaskId(b.taskId);
      const agent = validateAgentName(b.agent);
      const agentKey = keys.agentPublicKey(agent);
      const vault = await custody.vault(agentKey);
      const attempt = chainAttempt(b.attempt);
      const bond = await custody.bond(taskId, attempt);
      const base = { taskId, agent, bondAddress: bond.toBase58() };
      const state = (await readBond(chain, custody, bond))?.state;
      if (!state) {
        results[index] = settledResult(base, await readBondHistory(bond, taskId));
        if (results[index].signature) earlier.push(results[index].signature);
        continue;
      }
      if (!state.vault.equals(vault)) throw await agentMismatch(taskId, agent, bond, state.vault, vault);
      const amount = Number(state.amount);
      results[index] = {
        ...base,
        outcome: 'released',
        slashed: 0,
        returned: amount,
        signature: null,
        alreadySettled: false,
      };
      live.push({ index, release: await custody.release({ agent: agentKey, taskId, attempt }), amount, bond });
    }
    if (live.length) await ensureAuthorityFunded(deps);
    const batchTx = (bonds: typeof live) =>
      new Transaction().add(
        ...bonds.map((b) => b.release),
        memoInstruction(authority.publicKey, {
          action: 'release_batch',
          reason: input.reason,
          bonds: bonds.map((b) => ({
            task: results[b.index]!.taskId,
            agent: results[b.index]!.agent,
            amount: b.amount,
          })),
        }),
      );
    const sent: string[] = [];
    for (let start = 0; start < live.length;) {
      let batch = live.slice(start, start + 1);
      let tx = batchTx(batch);
      while (start + batch.length < live.length) {
        const more = live.slice(start, start + batch.length + 1);
        const bigger = batchTx(more);
        if (serializedSize(bigger, authority.publicKey) > PACKET_DATA_SIZE) break;
        [batch, tx] = [more, bigger];
      }
      let signature: string | null;
      try {
        ({ signature } = await chain.send(tx, [authority]));
      } catch (err) {
        // Landed before the send failed? Only if no bond of the batch is live any more (a transaction is atomic).
        // A bond that cannot be read counts as live: the error is rethrown and Temporal retries.
        const gone = await Promise.all(
          batch.map((b) =>
            readBond(chain, custody, b.bond).then(
              (read) => !read?.state,
              () => false,
            ),
          ),
        );
        if (!gone.every(Boolean)) throw err;
        const first = batch[0]!;
        signature = (await readBondHistory(first.bond, results[first.index]!.taskId)).settlement?.signature ?? null;
      }
      for (const b of batch) results[b.index] = { ...results[b.index]!, signature };
      if (signature) sent.push(signature);
      start += batch.length;
    }
    // A settlement counts once final (finality.ts), as releaseBond's does.
    if (sent.length || earlier.length) await chain.awaitFinality([...earlier, ...sent]);
    return results;
  }

  async function agentMismatch(
    taskId: string,
    agent: string,
    bond: PublicKey,
    lockedVault: PublicKey,
    vault: PublicKey,
  ) {
    const owner = (await readBondHistory(bond, taskId)).lock?.memo.agent;
    return chainFailure(
      'BondAgentMismatch',
      `the bond for task ${taskId} was locked by agent ${owner ? `"${owner}"` : 'unknown'} from vault ${lockedVault.toBase58()}, ` +
        `not by agent "${agent}" (vault ${vault.toBase58()}); nothing was moved`,
    );
  }

  return {
    lockBond,
    releaseBond: (input) => settle(input, null),
    slashBond: (input) => settle(input, input.slashPercentage),
    releaseBonds,
  };
}
