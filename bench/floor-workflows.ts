/**
 * The smallest hop Temporal can make, as the overhead benchmark's baseline: a chain of workflows in
 * which each waits for its predecessor's signal, runs one activity that does nothing, and signals its
 * successor. A speculative hop has the same skeleton (the parent's signal, the dependent's workflow
 * tasks, its execution activity) plus what is ours: the admission Update, the bond, the bookkeeping.
 */
import {
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';

export interface FloorActivities {
  floorStep(): Promise<void>;
}

export const floorGoSignal = defineSignal('floorGo');

const remote = proxyActivities<FloorActivities>({ startToCloseTimeout: '10s' });
const local = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '10s' });

/** One node of the minimal chain: the predecessor's signal, one activity, the successor's signal. */
export async function floorHop(next: string | null): Promise<void> {
  let go = false;
  setHandler(floorGoSignal, () => void (go = true));
  await condition(() => go);
  await remote.floorStep();
  if (next) await getExternalWorkflowHandle(next).signal(floorGoSignal);
}

/** `steps` activities one after another in one workflow: one activity round trip each (or one local activity). */
export async function floorSteps(steps: number, useLocal: boolean): Promise<void> {
  for (let i = 0; i < steps; i++) await (useLocal ? local : remote).floorStep();
}
