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
    bondSettled(lockedLamports: number, slashedLamports: number): void;
  };
}
