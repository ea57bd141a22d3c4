/** Operator activities behind the `operatorAction` workflow: stake management, the integrity and stake pool checks. */
import { ApplicationFailure } from '@temporalio/common';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { controlStatus } from '../temporal/control';
import { taskStateQuery } from '../shared/messages';
import type { OperatorActivities } from '../shared/operator-contract';
import { taskWorkflowId } from '../shared/task-model';
import type { LiveCommitment } from '../shared/stake-records';
import { createStakeActivities, createStakeOperator, type StakeDeps } from './chain';

export function createOperatorActivities(deps: {
  client: Client;
  stake: StakeDeps;
  rawConfig: () => Record<string, unknown>;
}): OperatorActivities {
  const operator = createStakeOperator(deps.stake);
  const stake = createStakeActivities(deps.stake);

  /** Bonds that should exist now: every active speculative task whose bond is locked. */
  async function liveBonds(): Promise<LiveCommitment[]> {
    const status = await controlStatus(deps.client, deps.rawConfig());
    const states = await Promise.all(
      status.active.map((a) =>
        deps.client.workflow
          .getHandle(taskWorkflowId(a.taskId))
          .query(taskStateQuery)
          .catch(() => undefined),
      ),
    );
    return states.flatMap((s) =>
      s?.bond?.state === 'locked'
        ? [
            {
              taskId: s.task_id,
              ...(s.attempt && s.attempt > 1 ? { attempt: s.attempt } : {}),
              agent: s.agent,
              amount: s.bond.amount,
            },
          ]
        : [],
    );
  }

  return {
    operatorStakeInit: (input) => operator.stakeInit(input),
    async operatorStakeStatus(input) {
      const [status, control] = await Promise.all([
        operator.stakeStatus(input),
        controlStatus(deps.client, deps.rawConfig()),
      ]);
      return { ...status, cooldown_until: control.cooldowns };
    },
    operatorStakeWithdraw: (input) => operator.stakeWithdraw(input),
    async operatorCheckIntegrity() {
      const bonds = await liveBonds();
      return { ...(await operator.checkIntegrity({ liveBonds: bonds })), live_bonds: bonds.length };
    },
    /**
     * Releases the bond of a task whose workflow closed without settling it (an operator terminated it):
     * never one of a running task, which settles its own.
     */
    async operatorReleaseBond({ taskId, reason, agent }) {
      const handle = deps.client.workflow.getHandle(taskWorkflowId(taskId));
      let owner = agent;
      // The last attempt's bond (each attempt has its own; earlier ones settled before the next began).
      let attempt: number | undefined;
      try {
        const { status } = await handle.describe();
        if (status.name === 'RUNNING') {
          throw ApplicationFailure.nonRetryable(
            `task ${taskId}'s workflow is running and settles its own bond; roll it back with \`agenc task rollback ${taskId}\` instead`,
            'TaskStillRunning',
          );
        }
        const state = await handle.query(taskStateQuery);
        owner ??= state.agent;
        attempt = state.attempt;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        if (!owner) {
          throw ApplicationFailure.nonRetryable(
            `task ${taskId} is not known to Temporal (its history is gone); name the bond's agent with --agent`,
            'UnknownTask',
          );
        }
      }
      return stake.releaseBond({
        taskId,
        agent: owner,
        reason: `operator: ${reason}`,
        ...(attempt && attempt > 1 ? { attempt } : {}),
      });
    },
    async operatorCloseRecords({ limit }) {
      const most = limit ?? 1000;
      const taskIds: string[] = [];
      // Closed task workflows: their records are settled (confirmed), or there are none.
      for await (const w of deps.client.workflow.list({
        query: "WorkflowType = 'speculativeTask' AND ExecutionStatus != 'Running'",
      })) {
        if (w.workflowId.startsWith('task-')) taskIds.push(w.workflowId.slice('task-'.length));
        if (taskIds.length >= most) break;
      }
      return operator.closeRecords({ taskIds });
    },
    async operatorSlashingHistory(input) {
      return operator.slashingHistory(input);
    },
    async operatorCheckPool(input) {
      const { config } = await controlStatus(deps.client, deps.rawConfig());
      return operator.checkPool({ program: input.program, stake: config.speculation.stake });
    },
  };
}
