/**
 * The stake, bond and operator records as workflows, activities and the CLI exchange them: defined
 * here, below all of them, so shared/ contracts take no types from activities/.
 */

/** The runbook's linear bond rule: min(max_stake, min_stake + depth × stake_per_depth). */
export interface BondStakeRule {
  min_stake: number;
  max_stake: number;
  stake_per_depth: number;
}

export interface LockBondResult {
  taskId: string;
  agent: string;
  bondAddress: string;
  amount: number;
  /** The lock transaction (also when found on a retry); null only if its history is not readable. */
  signature: string | null;
  alreadyLocked: boolean;
}

export interface SettleBondResult {
  taskId: string;
  agent: string;
  bondAddress: string;
  /** What happened to the bond; `never_locked` when there was no bond for this task. */
  outcome: 'released' | 'slashed' | 'never_locked';
  slashed: number;
  returned: number;
  signature: string | null;
  alreadySettled: boolean;
}

export interface StakeInitInput {
  agent: string;
  amount: number;
  /** Makes a retried call a no-op: a deposit whose memo carries this id is not made twice. */
  requestId?: string;
}

export interface StakeInitResult {
  agent: string;
  wallet: string;
  stake_account: string;
  deposited: number;
  /** Lamports added on first deposit to keep the stake account rent-exempt; never bonded or withdrawn. */
  rent_reserve_added: number;
  /** Lamports the embedded chain's faucet gave the wallet to make the deposit (0 on a cluster). */
  airdropped: number;
  signature: string | null;
  alreadyApplied: boolean;
}

export interface BondStatus {
  task_id: string;
  bond_account: string;
  depth: number;
  amount: number;
  /** Lamports the bond account holds now (equal to amount unless something moved out of band). */
  on_chain: number;
}

export interface AgentStakeStatus {
  agent: string;
  wallet: string;
  wallet_lamports: number;
  stake_account: string;
  stake_lamports: number;
  rent_reserve: number;
  deposited: number;
  withdrawn: number;
  available: number;
  locked_in_bonds: number;
  slashed: number;
  bonds: BondStatus[];
}

export interface StakeStatusResult {
  chain: 'embedded' | 'rpc';
  authority: string;
  treasury: { address: string; lamports: number };
  agents: AgentStakeStatus[];
}

export interface StakeWithdrawInput {
  agent: string;
  /** Default: everything available. */
  amount?: number;
  requestId?: string;
}

export interface StakeWithdrawResult {
  agent: string;
  wallet: string;
  stake_account: string;
  withdrawn: number;
  available_after: number;
  signature: string | null;
  alreadyApplied: boolean;
}

export interface LiveCommitment {
  taskId: string;
  /** The task's attempt (absent: the first): its bond is that attempt's account. */
  attempt?: number;
  agent: string;
  amount: number;
}

export interface IntegrityTotals {
  /** Σ deposits (with rent reserves) − Σ withdrawals + Σ treasury funding: what the conserved set should hold. */
  expected: number;
  /** Σ stake accounts + Σ live bonds + treasury, as read from chain. */
  actual: number;
  stake_accounts: number;
  bonds: number;
  treasury: number;
  deposited: number;
  withdrawn: number;
  slashed: number;
  treasury_funded: number;
  /** Reported, outside the conserved set: wallets are the agents' own money. */
  wallets: number;
  /** Reported, outside the conserved set: the authority pays every transaction fee. */
  authority: number;
}

export interface IntegrityResult {
  ok: boolean;
  problems: string[];
  totals: IntegrityTotals;
}

export interface PoolCheckInput {
  /**
   * The runbook's `--program $SPECULATION_PROGRAM_ID`. This protocol deploys no program of its own:
   * stake and bond accounts are System accounts derived from the protocol authority, so the authority's
   * address is what identifies the deployment.
   */
  program?: string;
  /** The live bond rule: the pool must cover at least the smallest bond a speculative task takes (depth 1). */
  stake: BondStakeRule;
}

/** What `agenc admin close-records` did: records of settled tasks closed, their rent back to the authority. */
export interface CloseRecordsResult {
  /** Task ids whose records were closed now. */
  closed: string[];
  /** Settled, but within the config's retention: closable later. */
  retained: number;
  /** Still pending (committed, not yet final). */
  pending: number;
  /** No record (never committed, or closed before). */
  absent: number;
  /** Rent returned to the authority, in lamports. */
  lamports_returned: number;
}

export interface PoolReport {
  /** initialized, funded, and the escrow holds exactly what the recorded locks say. */
  ok: boolean;
  /** The authority exists on chain and at least one agent has a stake account. */
  initialized: boolean;
  /** The authority can pay fees and the available stake covers the smallest bond. */
  funded: boolean;
  problems: string[];
  chain: 'embedded' | 'rpc';
  authority: { address: string; lamports: number; min_lamports: number };
  treasury: { address: string; lamports: number };
  /** Stake accounts: the liquidity bonds draw from. */
  stake: { agents: number; available: number; smallest_bond: number };
  /** Bond accounts: lamports locked by speculative tasks, as recorded and as held on chain. */
  escrow: { bond_accounts: number; locked_in_bonds: number; held: number };
  /** The custody program that holds it all, and this authority's config account in it. */
  program: { id: string; config: string };
}

/** One slash as the chain recorded it (`agenc stake slashing-history`). */
export interface SlashRecord {
  /** When its transaction's block was produced (ISO); null for an embedded record written before times were kept. */
  time: string | null;
  task_id: string;
  agent: string;
  /** The bond, what the treasury took, and what went back to the agent's stake. */
  bond: number;
  slashed: number;
  returned: number;
  slash_percentage: number;
  reason: string;
  signature: string;
}

export interface SlashingHistory {
  /** The lower bound asked for (ISO), null for all of history. */
  since: string | null;
  agent: string | null;
  /** Oldest first. */
  slashes: SlashRecord[];
  /** Slashes left out because their time is unknown and a bound was asked for. */
  undated: number;
  total_slashed: number;
}
