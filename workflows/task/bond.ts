/** The task's bond: locked when it speculates, released in full or slashed when it ends, and the control slot that goes with it. */
import { CancellationScope, log, patched } from '@temporalio/workflow';
import type { SpeculationConfig } from '../../config/schema';
import { FAILURE_TYPES } from '../../shared/activity-contract';
import { agentSlashedSignal, speculationEndedSignal } from '../../shared/messages';
import { bondSettlement, bondSettlementBeforeSystemFaults, failureType, rootMessage } from '../task-decisions';
import { CHAIN, CHAIN_LOCAL, localTaskActivities, taskActivities } from './activity-options';
import { metricsSink, type TaskRun } from './task-run';

/**
 * Locks the bond; its compensation (release or slash, by the final reason) is registered first. False when
 * no bond could be taken: the task then runs non-speculatively, its admission given back.
 */
export async function lockBond(run: TaskRun, depth: number, cfg: SpeculationConfig): Promise<boolean> {
  const { input, state } = run;
  run.compensations.register('settle bond', () => settleBond(run));
  run.bondLocking = true;
  try {
    const summary = `bond: lock the depth-${depth} bond of ${input.agent}'s stake`;
    const request = {
      taskId: input.taskId,
      agent: input.agent,
      depth,
      stake: cfg.speculation.stake,
      ...attemptOf(run),
    };
    // A local activity (local-bond-lock), like the admission before it: both run in one workflow task.
    const local = patched('local-bond-lock');
    const bond = await CancellationScope.nonCancellable(() =>
      local
        ? localTaskActivities(CHAIN_LOCAL, summary).lockBond(request)
        : taskActivities(CHAIN, summary).lockBond(request),
    );
    state.bond = { address: bond.bondAddress, amount: bond.amount, state: 'locked' };
    run.bondLocking = false;
    metricsSink.speculated(depth, bond.amount);
    return true;
  } catch (err) {
    // Only permanent errors get here (the chain's are retried otherwise): too little stake, an agent without a
    // wallet, a bond address already used or settled. None is a reason to fail the task: it runs non-speculatively.
    run.bondLocking = false;
    if (!failureType(err)) throw err;
    if (failureType(err) !== FAILURE_TYPES.stakeInsufficientFunds)
      log.warn('bond not taken; running without speculation', { taskId: input.taskId, error: rootMessage(err) });
    state.speculation_status = 'stake_limit';
    state.depth = 0;
    state.error = rootMessage(err);
    // Nothing was locked: undo the admission now and run on as a non-speculative task.
    run.compensations.forget();
    await endSpeculation(run);
    return false;
  }
}

/** Release in full, or slash `slash_percentage` on the task's own fault. Idempotent. */
export async function settleBond(run: TaskRun): Promise<void> {
  const { input, state } = run;
  if (!state.bond || state.bond.state !== 'locked') return;
  // Frozen when the forward run ended (end-reason-frozen), so the status, the reason and this settlement agree.
  const reason = run.endReason();
  if (
    reason &&
    (run.systemFaultsReleased ? bondSettlement(reason) : bondSettlementBeforeSystemFaults(reason)) === 'slash'
  ) {
    const slashPercentage = run.config!.speculation.stake.slash_percentage;
    const slashed = await taskActivities(
      CHAIN,
      `slash: ${slashPercentage * 100}% of the bond to the treasury (${reason})`,
    ).slashBond({
      taskId: input.taskId,
      agent: input.agent,
      slashPercentage,
      reason,
      ...attemptOf(run),
    });
    state.bond = {
      ...state.bond,
      state: 'slashed',
      slashed: slashed.slashed,
      returned: slashed.returned,
      settled_at: new Date().toISOString(),
    };
    metricsSink.bondSettled(state.bond.amount, slashed.slashed ?? 0);
    await run.control.tell('agentSlashed', (control) =>
      control.signal(agentSlashedSignal, { agent: input.agent, taskId: input.taskId }),
    );
  } else {
    await taskActivities(
      CHAIN,
      `release: the bond back to ${input.agent}'s stake (${reason ?? 'confirmed'})`,
    ).releaseBond({
      taskId: input.taskId,
      agent: input.agent,
      reason: reason ?? 'confirmed',
      ...attemptOf(run),
    });
    state.bond = { ...state.bond, state: 'released', settled_at: new Date().toISOString() };
    metricsSink.bondSettled(state.bond.amount, 0);
  }
}

/** Which attempt's bond: said only after the first (a first attempt's activity inputs are what they always were). */
export function attemptOf(run: TaskRun): { attempt?: number } {
  return run.attempt > 1 ? { attempt: run.attempt } : {};
}

/** The speculation is over (undone, settled, or never bonded): the control workflow frees its slot. */
export async function endSpeculation(run: TaskRun): Promise<void> {
  const { taskId } = run.input;
  await run.control.tell('speculationEnded', (control) =>
    control.signal(speculationEndedSignal, { taskId, outcome: run.state.status }),
  );
}
