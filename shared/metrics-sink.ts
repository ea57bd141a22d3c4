/**
 * Workflow → worker metrics, through a Temporal sink: workflow code cannot touch prom-client, and a
 * sink is not called again on replay, so a counter moves once per event.
 */
import type { Sinks } from '@temporalio/workflow';
import type { RollbackReason, SpeculationStatus } from './task-model';

export interface MetricsSinks extends Sinks {
  metrics: {
    taskStarted(type: string, speculationStatus: SpeculationStatus): void;
    speculated(depth: number, bondLamports: number): void;
    /** The worker observes submission → confirmation latency from the workflow's start time. */
    confirmed(speculationStatus: SpeculationStatus): void;
    rolledBack(reason: RollbackReason, speculative: boolean): void;
    /** A task ended `failed`: its agent's own fault (a failing root counts here, not as a rollback). */
    failed(reason: RollbackReason): void;
    /** A cascade's origin: how many descendants its cascade rolled back, and seconds from its failure to their settlement. */
    cascaded(members: number, seconds: number): void;
    bondSettled(lockedLamports: number, slashedLamports: number): void;
  };
  /** Rollout phases (workflows/rollout-phase.ts). */
  rollout: {
    /**
     * Whether the phase's latest reading lacks evidence (`speculation_rollout_insufficient_evidence`).
     * The value lapses after `ttlMs` unless renewed: the phase renews it every evaluation, and a worker
     * that no longer runs the phase (another took it after a restart) must not report it forever.
     */
    evidence(rollout: string, phase: number, insufficient: boolean, ttlMs: number): void;
  };
}
