/** What the fast cascade's activity takes and answers (activities/cascade-activities.ts runs it). */
import type { RollbackPolicy } from '../config/schema';
import type { RollbackReason } from './task-model';

export interface CascadeRollbackInput {
  origin: string;
  /** The origin's dependents now. */
  dependents: string[];
  /** What the origin's dependents hear of it: `parent_failed` or `parent_rolled_back`. */
  reason: RollbackReason;
  policy: RollbackPolicy;
}

export interface CascadeRollbackResult {
  members: number;
  joined: number;
  /** Members whose bonds the batch released, and the transactions that took. */
  settledInBatch: number;
  bondsReleased: number;
  transactions: number;
  /** Members that settle themselves (a task below them is rolling back on its own). */
  selfSettling: number;
  /** The origin's dependents it need not wait for: settled by the batch, or already final. */
  settledDependents: string[];
  /** Where the time went, in ms: reading the graph, the joins, the batch's transactions, the verdicts. */
  timings?: { readMs: number; joinMs: number; settleMs: number; tellMs: number };
  /** Why every joined member was told to settle itself instead, if something failed after they joined. */
  fallback?: string;
}
