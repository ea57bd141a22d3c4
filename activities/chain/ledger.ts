/**
 * The stake ledger is not a separate store: it is read back from the Memos of authority-signed
 * transactions that touched an account (on a cluster: its transaction history; on the embedded chain:
 * the persisted history log, its stand-in for a validator's ledger). Memos in transactions whose fee
 * payer is not the authority are ignored, so nobody else can forge a ledger entry.
 */
import type { MemoRecord } from './port';
import { MEMO_APP, type StakeMemo } from './transactions';

export interface LedgerEntry {
  signature: string;
  /** The transaction's block time (Unix seconds), null when the chain did not say. */
  blockTime: number | null;
  memo: StakeMemo;
}

export function parseMemos(records: MemoRecord[], authority: string): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  for (const r of records) {
    if (r.feePayer !== authority || r.memo === null) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.memo);
    } catch {
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || (parsed as { app?: unknown }).app !== MEMO_APP) continue;
    const memo = parsed as StakeMemo;
    if (memo.action === 'release_batch') {
      for (const b of memo.bonds)
        out.push({
          signature: r.signature,
          blockTime: r.blockTime,
          memo: { action: 'release', ...b, reason: memo.reason },
        });
    } else {
      out.push({ signature: r.signature, blockTime: r.blockTime, memo });
    }
  }
  return out;
}

export interface LiveBondRecord {
  taskId: string;
  /** The task's attempt the bond belongs to (absent: the first). */
  attempt?: number;
  depth: number;
  amount: number;
  signature: string;
}

/** Flows in and out of one agent's stake account, from its history. */
export interface AgentLedger {
  deposited: number;
  reserve: number;
  withdrawn: number;
  locked: number;
  returned: number;
  slashed: number;
  /** Bonds locked and not yet settled, by task id. */
  liveBonds: Map<string, LiveBondRecord>;
  requests: Set<string>;
}

export function agentLedger(entries: LedgerEntry[], agent: string): AgentLedger {
  const ledger: AgentLedger = {
    deposited: 0,
    reserve: 0,
    withdrawn: 0,
    locked: 0,
    returned: 0,
    slashed: 0,
    liveBonds: new Map(),
    requests: new Set(),
  };
  for (const { signature, memo } of entries) {
    if (!('agent' in memo) || memo.agent !== agent) continue;
    switch (memo.action) {
      case 'deposit':
        ledger.deposited += memo.amount;
        ledger.reserve += memo.reserve;
        if (memo.request) ledger.requests.add(memo.request);
        break;
      case 'withdraw':
        ledger.withdrawn += memo.amount;
        if (memo.request) ledger.requests.add(memo.request);
        break;
      case 'lock':
        ledger.locked += memo.amount;
        ledger.liveBonds.set(memo.task, {
          taskId: memo.task,
          ...(memo.attempt ? { attempt: memo.attempt } : {}),
          depth: memo.depth,
          amount: memo.amount,
          signature,
        });
        break;
      case 'release':
        ledger.returned += memo.amount;
        ledger.liveBonds.delete(memo.task);
        break;
      case 'slash':
        ledger.returned += memo.returned;
        ledger.slashed += memo.slashed;
        ledger.liveBonds.delete(memo.task);
        break;
    }
  }
  return ledger;
}

/** What a stake account should hold if every movement went through this module. */
export function expectedStakeLamports(l: AgentLedger): number {
  return l.reserve + l.deposited - l.withdrawn - l.locked + l.returned;
}

export interface BondHistory {
  lock: (LedgerEntry & { memo: Extract<StakeMemo, { action: 'lock' }> }) | null;
  settlement: (LedgerEntry & { memo: Extract<StakeMemo, { action: 'release' | 'slash' }> }) | null;
}

/**
 * The lock and the settlement (release or slash) of task `taskId`'s bond, from its account's history: a
 * batch's transaction touched every bond it settled, so its entries for other tasks are left out.
 */
export function bondHistory(entries: LedgerEntry[], taskId: string): BondHistory {
  const result: BondHistory = { lock: null, settlement: null };
  for (const e of entries) {
    const m = e.memo;
    if ('task' in m && m.task !== taskId) continue;
    if (m.action === 'lock') result.lock = { ...e, memo: m };
    else if (m.action === 'release' || m.action === 'slash') result.settlement = { ...e, memo: m };
  }
  return result;
}

export type CommitMemo = Extract<StakeMemo, { action: 'commit' }>;

export interface CommitRecord {
  signature: string;
  memo: CommitMemo;
}

/**
 * A task's commitment record: the first commit the authority signed for it at its commit address. Only
 * a race of one task's own attempts could leave a second, and it carries the same content (the activity
 * refuses to write another), so the first is the record.
 */
export function commitRecord(entries: LedgerEntry[], taskId: string): CommitRecord | null {
  for (const e of entries) {
    if (e.memo.action === 'commit' && e.memo.task === taskId) return { signature: e.signature, memo: e.memo };
  }
  return null;
}

/** Funding and slashes recorded on the treasury. */
export function treasuryLedger(entries: LedgerEntry[]): { funded: number; slashed: number } {
  let funded = 0;
  let slashed = 0;
  for (const { memo } of entries) {
    if (memo.action === 'treasury_fund') funded += memo.amount;
    else if (memo.action === 'slash') slashed += memo.slashed;
  }
  return { funded, slashed };
}
