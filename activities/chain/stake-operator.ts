/**
 * Operator functions behind `agenc stake ...` and the admin activity. Each returns a JSON-able object.
 *
 * What lives where:
 *   on chain  — every lamport (wallets, stake vaults, bonds, treasury), the custody program's own
 *               accounting in each vault (custody/layout.ts), and, in each transaction's Memo, the
 *               record of what moved and why (deposit, withdraw, lock, release, slash);
 *   derived   — deposited / withdrawn / slashed totals and the list of live bonds, read back from those
 *               memos (ledger.ts). On the embedded chain the "transaction history" is its persisted
 *               history log next to the accounts file; on a cluster it is the cluster's own history.
 * Nothing is kept in process memory, so any worker can answer.
 */
import type { PublicKey } from '@solana/web3.js';
import type {
  StakeInitInput,
  StakeInitResult,
  BondStatus,
  AgentStakeStatus,
  StakeStatusResult,
  SlashingHistory,
  StakeWithdrawInput,
  StakeWithdrawResult,
  LiveCommitment,
  IntegrityTotals,
  IntegrityResult,
  PoolCheckInput,
  PoolReport,
  CloseRecordsResult,
} from '../../shared/stake-records';
import { Transaction } from '@solana/web3.js';
import { validateTaskId } from './addresses';
import { bondAmount } from './bond-amount';
import { ChainTransactionError, chainFailure } from './errors';
import { validateAgentName } from './keys';
import { agentLedger, expectedStakeLamports, parseMemos, treasuryLedger, type AgentLedger } from './ledger';
import { chainAttempt } from './stake-activities';
import { memoInstruction } from './transactions';
import { AUTHORITY_MIN_LAMPORTS, ensureAuthorityFunded, requireLamports, type StakeDeps } from './context';
import { custodyOf } from './custody/deployment';
import { readRecord, readVault } from './custody/accounts';
import { BOND, VAULT } from './custody/layout';

export interface StakeOperator {
  stakeInit(input: StakeInitInput): Promise<StakeInitResult>;
  stakeStatus(input?: { agent?: string }): Promise<StakeStatusResult>;
  /** Every staked agent's available lamports, from its stake account alone (one read, for a metrics scrape). */
  stakeAvailable(): Promise<Array<{ agent: string; available: number }>>;
  /** Slashes recorded on the treasury (every slash pays it), oldest first: since a time (Unix ms), of one agent. */
  slashingHistory(input: { sinceMs?: number; agent?: string }): Promise<SlashingHistory>;
  stakeWithdraw(input: StakeWithdrawInput): Promise<StakeWithdrawResult>;
  checkIntegrity(input: { liveBonds: LiveCommitment[] }): Promise<IntegrityResult>;
  checkPool(input: PoolCheckInput): Promise<PoolReport>;
  closeRecords(input: { taskIds: string[] }): Promise<CloseRecordsResult>;
}

export function createStakeOperator(deps: StakeDeps): StakeOperator {
  const { chain, keys } = deps;

  async function ledgerOf(stake: PublicKey, agent: string): Promise<AgentLedger> {
    const authority = keys.authority().publicKey.toBase58();
    return agentLedger(parseMemos(await chain.getMemoHistory(stake), authority), agent);
  }

  function requireRequestId(requestId: unknown): string | undefined {
    if (requestId === undefined) return undefined;
    if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 64) {
      throw chainFailure(
        'InvalidAmount',
        `requestId must be a string of 1-64 characters, got ${JSON.stringify(requestId)}`,
      );
    }
    return requestId;
  }

  async function stakeInit(input: StakeInitInput): Promise<StakeInitResult> {
    const agent = validateAgentName(input.agent);
    const amount = requireLamports('stake init amount', input.amount, 1);
    const request = requireRequestId(input.requestId);
    const authority = keys.authority();
    const wallet = keys.agent(agent, { create: true });
    const custody = await custodyOf(deps);
    const stake = await custody.vault(wallet.publicKey);
    const base = { agent, wallet: wallet.publicKey.toBase58(), stake_account: stake.toBase58() };

    if (request && (await ledgerOf(stake, agent)).requests.has(request)) {
      return { ...base, deposited: 0, rent_reserve_added: 0, airdropped: 0, signature: null, alreadyApplied: true };
    }
    const rentMin = await chain.rentExemptMinimum(0);
    const exists = (await chain.getAccount(stake)) !== null;
    const reserve = exists ? 0 : await chain.rentExemptMinimum(VAULT.len);
    const needed = amount + reserve;

    let airdropped = 0;
    if (chain.kind === 'embedded') {
      await chain.airdrop(wallet.publicKey, needed);
      airdropped = needed;
    } else {
      const balance = await chain.getLamports(wallet.publicKey);
      const left = balance - needed;
      if (left < 0 || (left > 0 && left < rentMin)) {
        throw chainFailure(
          'WalletInsufficientFunds',
          `wallet ${base.wallet} of agent "${agent}" holds ${balance} lamports; depositing ${amount}` +
            (reserve ? ` plus a ${reserve}-lamport rent reserve for the new stake account` : '') +
            ` needs ${needed}, and what is left must be 0 or at least ${rentMin}; fund the wallet first`,
        );
      }
    }
    await ensureAuthorityFunded(deps);
    const tx = new Transaction().add(
      ...(await custody.deposit({
        agent: wallet.publicKey,
        amount,
        ...(exists ? {} : { create: { rentLamports: reserve } }),
      })),
      memoInstruction(authority.publicKey, {
        action: 'deposit',
        agent,
        amount,
        reserve,
        ...(request ? { request } : {}),
      }),
    );
    const { signature } = await chain.send(tx, [authority, wallet]);
    return { ...base, deposited: amount, rent_reserve_added: reserve, airdropped, signature, alreadyApplied: false };
  }

  async function agentStatus(agent: string): Promise<AgentStakeStatus> {
    const wallet = keys.agentPublicKey(agent);
    const custody = await custodyOf(deps);
    const stake = await custody.vault(wallet);
    const ledger = await ledgerOf(stake, agent);
    const live = [...ledger.liveBonds.values()];
    const bondAddresses = await Promise.all(live.map((b) => custody.bond(b.taskId, chainAttempt(b.attempt))));
    const [walletAccount, stakeAccount, ...bondAccounts] = await chain.getAccounts([wallet, stake, ...bondAddresses]);
    const stakeLamports = stakeAccount?.lamports ?? 0;
    const bondRent = await chain.rentExemptMinimum(BOND.len);
    const bonds: BondStatus[] = live.map((b, i) => ({
      task_id: b.taskId,
      bond_account: bondAddresses[i]?.toBase58() ?? '',
      depth: b.depth,
      amount: b.amount,
      on_chain: bondLamports(bondAccounts[i]?.lamports, bondRent),
    }));
    return {
      agent,
      wallet: wallet.toBase58(),
      wallet_lamports: walletAccount?.lamports ?? 0,
      stake_account: stake.toBase58(),
      stake_lamports: stakeLamports,
      rent_reserve: ledger.reserve,
      deposited: ledger.deposited,
      withdrawn: ledger.withdrawn,
      available: Math.max(0, stakeLamports - ledger.reserve),
      locked_in_bonds: bonds.reduce((sum, b) => sum + b.on_chain, 0),
      slashed: ledger.slashed,
      bonds,
    };
  }

  async function stakeStatus(input: { agent?: string } = {}): Promise<StakeStatusResult> {
    const agents = input.agent === undefined ? keys.listAgents() : [validateAgentName(input.agent)];
    if (input.agent !== undefined) keys.agent(agents[0] ?? ''); // UnknownAgent
    const treasury = keys.treasury().publicKey;
    const statuses: AgentStakeStatus[] = [];
    for (const agent of agents) statuses.push(await agentStatus(agent));
    return {
      chain: chain.kind,
      authority: keys.authority().publicKey.toBase58(),
      treasury: { address: treasury.toBase58(), lamports: await chain.getLamports(treasury) },
      agents: statuses,
    };
  }

  async function stakeAvailable(): Promise<Array<{ agent: string; available: number }>> {
    const agents = keys.listAgents();
    const custody = await custodyOf(deps);
    const vaults = await Promise.all(agents.map((agent) => custody.vault(keys.agentPublicKey(agent))));
    const accounts = await chain.getAccounts(vaults);
    // The rent reserve a stake account was created with is this minimum (stakeInit), so what the ledger
    // would say is available is known without reading the account's history.
    const reserve = await chain.rentExemptMinimum(VAULT.len);
    return agents.flatMap((agent, i) => {
      const lamports = accounts[i]?.lamports ?? 0;
      return lamports > 0 ? [{ agent, available: Math.max(0, lamports - reserve) }] : [];
    });
  }

  async function slashingHistory(input: { sinceMs?: number; agent?: string }): Promise<SlashingHistory> {
    const agent = input.agent === undefined ? undefined : validateAgentName(input.agent);
    const treasury = keys.treasury().publicKey;
    const entries = parseMemos(await chain.getMemoHistory(treasury), keys.authority().publicKey.toBase58());
    const slashes: SlashingHistory['slashes'] = [];
    let undated = 0;
    for (const { signature, blockTime, memo } of entries) {
      if (memo.action !== 'slash' || (agent !== undefined && memo.agent !== agent)) continue;
      if (input.sinceMs !== undefined) {
        if (blockTime === null) {
          undated += 1;
          continue;
        }
        if (blockTime * 1000 < input.sinceMs) continue;
      }
      slashes.push({
        time: blockTime === null ? null : new Date(blockTime * 1000).toISOString(),
        task_id: memo.task,
        agent: memo.agent,
        bond: memo.amount,
        slashed: memo.slashed,
        returned: memo.returned,
        slash_percentage: memo.slash_percentage,
        reason: memo.reason,
        signature,
      });
    }
    return {
      since: input.sinceMs === undefined ? null : new Date(input.sinceMs).toISOString(),
      agent: agent ?? null,
      slashes,
      undated,
      total_slashed: slashes.reduce((sum, s) => sum + s.slashed, 0),
    };
  }

  async function stakeWithdraw(input: StakeWithdrawInput): Promise<StakeWithdrawResult> {
    const agent = validateAgentName(input.agent);
    const request = requireRequestId(input.requestId);
    const walletKey = keys.agent(agent);
    const wallet = walletKey.publicKey;
    const authority = keys.authority();
    const custody = await custodyOf(deps);
    const stake = await custody.vault(wallet);
    const base = { agent, wallet: wallet.toBase58(), stake_account: stake.toBase58() };
    const ledger = await ledgerOf(stake, agent);
    const stakeLamports = await chain.getLamports(stake);
    const available = Math.max(0, stakeLamports - ledger.reserve);
    if (request && ledger.requests.has(request)) {
      return { ...base, withdrawn: 0, available_after: available, signature: null, alreadyApplied: true };
    }
    const amount = input.amount === undefined ? available : requireLamports('stake withdraw amount', input.amount, 1);
    if (amount > available) {
      throw chainFailure(
        'StakeInsufficientFunds',
        `agent "${agent}" has ${available} lamports available in stake account ${base.stake_account} ` +
          `(locked bonds are never withdrawable; ${ledger.reserve} is the rent reserve) but ${amount} was requested`,
      );
    }
    if (amount === 0)
      return { ...base, withdrawn: 0, available_after: available, signature: null, alreadyApplied: false };
    const rentMin = await chain.rentExemptMinimum(0);
    const walletLamports = await chain.getLamports(wallet);
    if (walletLamports + amount < rentMin) {
      throw chainFailure(
        'InvalidAmount',
        `withdrawing ${amount} lamports would leave wallet ${base.wallet} with ${walletLamports + amount}, ` +
          `below the rent-exempt minimum of ${rentMin}; withdraw at least ${rentMin - walletLamports}`,
      );
    }
    await ensureAuthorityFunded(deps);
    // The agent signs its withdrawal: the program pays out of a vault to its agent's signature only.
    const tx = new Transaction().add(
      await custody.withdraw({ agent: wallet, amount }),
      memoInstruction(authority.publicKey, { action: 'withdraw', agent, amount, ...(request ? { request } : {}) }),
    );
    const { signature } = await chain.send(tx, [authority, walletKey]);
    return { ...base, withdrawn: amount, available_after: available - amount, signature, alreadyApplied: false };
  }

  async function checkIntegrity(input: { liveBonds: LiveCommitment[] }): Promise<IntegrityResult> {
    const problems: string[] = [];
    const authority = keys.authority().publicKey;
    const custody = await custodyOf(deps);
    const bondRent = await chain.rentExemptMinimum(BOND.len);
    const commitments = new Map<string, LiveCommitment>();
    for (const c of input.liveBonds) {
      validateTaskId(c.taskId);
      validateAgentName(c.agent);
      requireLamports(`live bond amount of task ${c.taskId}`, c.amount);
      if (commitments.has(c.taskId)) problems.push(`task ${c.taskId} is listed twice among live commitments`);
      commitments.set(c.taskId, c);
    }
    const agents = [...new Set([...keys.listAgents(), ...input.liveBonds.map((c) => c.agent)])].sort();

    const totals: IntegrityTotals = {
      expected: 0,
      actual: 0,
      stake_accounts: 0,
      bonds: 0,
      treasury: 0,
      deposited: 0,
      withdrawn: 0,
      slashed: 0,
      treasury_funded: 0,
      wallets: 0,
      authority: await chain.getLamports(authority),
    };
    const bondsOnChain = new Set<string>();

    for (const agent of agents) {
      if (!keys.hasAgent(agent)) {
        problems.push(`agent "${agent}" has live commitments but no wallet`);
        continue;
      }
      const stake = await custody.vault(keys.agentPublicKey(agent));
      const ledger = await ledgerOf(stake, agent);
      const [walletLamports, stakeLamports, vault] = await Promise.all([
        chain.getLamports(keys.agentPublicKey(agent)),
        chain.getLamports(stake),
        readVault(chain, custody, stake),
      ]);
      totals.wallets += walletLamports;
      totals.stake_accounts += stakeLamports;
      totals.deposited += ledger.deposited + ledger.reserve;
      totals.withdrawn += ledger.withdrawn;
      totals.slashed += ledger.slashed;
      const expectedStake = expectedStakeLamports(ledger);
      if (stakeLamports !== expectedStake) {
        problems.push(
          `stake vault ${stake.toBase58()} of agent "${agent}" holds ${stakeLamports} lamports; ` +
            `its recorded deposits, withdrawals, locks and settlements say ${expectedStake} (moved out of band?)`,
        );
      }
      // The program's own accounting in the vault agrees with the memos and the bonds.
      if (vault) {
        const v = vault.state;
        if (BigInt(stakeLamports) !== v.accounted) {
          problems.push(
            `stake vault ${stake.toBase58()} of agent "${agent}" holds ${stakeLamports} lamports but the custody program last left ${v.accounted} in it`,
          );
        }
        const liveTotal = [...ledger.liveBonds.values()].reduce((sum, b) => sum + b.amount, 0);
        if (v.bonded !== BigInt(liveTotal)) {
          problems.push(
            `the custody program counts ${v.bonded} lamports of agent "${agent}" in live bonds; the recorded locks say ${liveTotal}`,
          );
        }
      }
      for (const bond of ledger.liveBonds.values()) {
        const address = await custody.bond(bond.taskId, chainAttempt(bond.attempt));
        const lamports = bondLamports(await chain.getLamports(address), bondRent);
        totals.bonds += lamports;
        bondsOnChain.add(bond.taskId);
        if (lamports !== bond.amount) {
          problems.push(
            `bond ${address.toBase58()} of task ${bond.taskId} holds ${lamports} lamports; it was locked with ${bond.amount}`,
          );
        }
        const c = commitments.get(bond.taskId);
        if (!c) {
          problems.push(
            `bond ${address.toBase58()} of task ${bond.taskId} (agent "${agent}", ${lamports} lamports) has no live commitment; ` +
              `if the task's workflow closed without settling it (terminated), fix: agenc stake release-bond --task ${bond.taskId} --reason "<why>"`,
          );
        } else if (c.agent !== agent) {
          problems.push(
            `bond of task ${bond.taskId} belongs to agent "${agent}" but the live commitment names "${c.agent}"`,
          );
        } else if (c.amount !== lamports) {
          problems.push(
            `bond of task ${bond.taskId} holds ${lamports} lamports but the live commitment says ${c.amount}`,
          );
        }
      }
    }
    for (const c of commitments.values()) {
      if (bondsOnChain.has(c.taskId)) continue;
      const address = await custody.bond(c.taskId, chainAttempt(c.attempt));
      const lamports = bondLamports(await chain.getLamports(address), bondRent);
      problems.push(
        lamports > 0
          ? `bond ${address.toBase58()} of task ${c.taskId} holds ${lamports} lamports but no lock by agent "${c.agent}" is recorded`
          : `live commitment of task ${c.taskId} (agent "${c.agent}", ${c.amount} lamports) has no bond on chain`,
      );
    }

    const treasury = keys.treasury().publicKey;
    const treasuryRecord = treasuryLedger(parseMemos(await chain.getMemoHistory(treasury), authority.toBase58()));
    totals.treasury = await chain.getLamports(treasury);
    totals.treasury_funded = treasuryRecord.funded;
    if (treasuryRecord.slashed !== totals.slashed) {
      problems.push(
        `treasury records ${treasuryRecord.slashed} lamports slashed but the stake accounts record ${totals.slashed}`,
      );
    }
    const expectedTreasury = treasuryRecord.funded + treasuryRecord.slashed;
    if (totals.treasury !== expectedTreasury) {
      problems.push(
        `treasury ${treasury.toBase58()} holds ${totals.treasury} lamports; funding and slashes say ${expectedTreasury}`,
      );
    }

    totals.expected = totals.deposited - totals.withdrawn + totals.treasury_funded;
    totals.actual = totals.stake_accounts + totals.bonds + totals.treasury;
    if (totals.expected !== totals.actual) {
      problems.push(
        `lamports not conserved: stake accounts + bonds + treasury hold ${totals.actual}, deposits − withdrawals + treasury funding = ${totals.expected}`,
      );
    }
    return { ok: problems.length === 0, problems, totals };
  }

  async function checkPool(input: PoolCheckInput): Promise<PoolReport> {
    const authority = keys.authority().publicKey.toBase58();
    const custody = await custodyOf(deps);
    const programId = custody.programId.toBase58();
    if (input.program !== undefined && input.program !== programId) {
      throw chainFailure(
        'InvalidProgram',
        `--program ${input.program} is not this deployment's custody program ${programId} (config ${custody.config.toBase58()}, authority ${authority}); ` +
          `pass --program ${programId} or leave it out`,
      );
    }
    const smallestBond = bondAmount(1, input.stake);
    const status = await stakeStatus();
    const authorityLamports = await chain.getLamports(keys.authority().publicKey);
    const staked = status.agents.filter((a) => a.stake_lamports > 0);
    const available = staked.reduce((sum, a) => sum + a.available, 0);
    const bonds = status.agents.flatMap((a) => a.bonds);
    const locked = bonds.reduce((sum, b) => sum + b.amount, 0);
    const held = bonds.reduce((sum, b) => sum + b.on_chain, 0);

    const problems: string[] = [];
    if (authorityLamports < AUTHORITY_MIN_LAMPORTS) {
      problems.push(
        `the protocol authority ${authority} holds ${authorityLamports} lamports and pays every fee; it needs at least ${AUTHORITY_MIN_LAMPORTS}: ` +
          (chain.kind === 'embedded'
            ? 'the embedded chain funds it at the first deposit (`agenc stake init --amount LAMPORTS`)'
            : `fund it (\`solana transfer ${authority} 0.1\`)`),
      );
    }
    if (staked.length === 0) {
      problems.push(
        'no agent has a stake account, so nothing can back a bond: deposit with `agenc stake init --amount LAMPORTS [--agent NAME]`',
      );
    } else if (available < smallestBond) {
      problems.push(
        `the pool has ${available} lamports available across ${staked.length} agent(s); a speculative task bonds at least ${smallestBond} ` +
          '(min_stake + 1 × stake_per_depth): deposit more with `agenc stake init --amount LAMPORTS`',
      );
    }
    if (held !== locked) {
      problems.push(
        `bond accounts hold ${held} lamports; the locks recorded for them say ${locked} (moved out of band? run \`agenc admin check-integrity --component speculation\`)`,
      );
    }
    const initialized = authorityLamports > 0 && staked.length > 0;
    const funded = authorityLamports >= AUTHORITY_MIN_LAMPORTS && staked.length > 0 && available >= smallestBond;
    return {
      ok: problems.length === 0,
      initialized,
      funded,
      problems,
      chain: status.chain,
      authority: { address: authority, lamports: authorityLamports, min_lamports: AUTHORITY_MIN_LAMPORTS },
      treasury: status.treasury,
      stake: { agents: staked.length, available, smallest_bond: smallestBond },
      escrow: { bond_accounts: bonds.length, locked_in_bonds: locked, held },
      program: { id: programId, config: custody.config.toBase58() },
    };
  }

  /**
   * Closes the settled commitment records of these tasks whose retention has passed (the program checks
   * the time and refuses earlier: counted as `retained`); their rent goes back to the authority.
   */
  async function closeRecords({ taskIds }: { taskIds: string[] }): Promise<CloseRecordsResult> {
    const custody = await custodyOf(deps);
    const authority = keys.authority();
    const result: CloseRecordsResult = { closed: [], retained: 0, pending: 0, absent: 0, lamports_returned: 0 };
    for (const taskId of taskIds.map(validateTaskId)) {
      const address = await custody.record(taskId);
      const found = await readRecord(chain, custody, address);
      if (!found?.state) {
        result.absent += 1;
        continue;
      }
      if (found.state.status === 'pending') {
        result.pending += 1;
        continue;
      }
      try {
        await chain.send(new Transaction().add(await custody.closeRecord({ taskId })), [authority]);
      } catch (err) {
        if (err instanceof ChainTransactionError && err.custody?.name === 'RetentionNotElapsed') {
          result.retained += 1;
          continue;
        }
        throw err;
      }
      result.closed.push(taskId);
      result.lamports_returned += found.lamports;
    }
    return result;
  }

  return {
    stakeInit,
    stakeStatus,
    stakeAvailable,
    slashingHistory,
    stakeWithdraw,
    checkIntegrity,
    checkPool,
    closeRecords,
  };
}

/** What a bond account holds for its bond: its lamports less the rent the authority paid to create it (0 when it is gone). */
function bondLamports(lamports: number | undefined, rent: number): number {
  return lamports ? Math.max(0, lamports - rent) : 0;
}
