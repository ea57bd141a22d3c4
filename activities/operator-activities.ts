/** Operator activities behind the `operatorAction` workflow: stake management, the integrity and stake pool checks. */
import type { Client } from '@temporalio/client';
import { controlStatus } from '../temporal/control';
import { taskStateQuery } from '../shared/messages';
import type { OperatorActivities } from '../shared/operator-contract';
import { taskWorkflowId } from '../shared/task-model';
import type { LiveCommitment } from '../shared/stake-records';
import { createStakeOperator, type StakeDeps } from './chain';

export function createOperatorActivities(deps: { client: Client; stake: StakeDeps; rawConfig: () => Record<string, unknown> }): OperatorActivities {
  const operator = createStakeOperator(deps.stake);

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
    return states.flatMap((s) => (s?.bond?.state === 'locked' ? [{ taskId: s.task_id, agent: s.agent, amount: s.bond.amount }] : []));
  }

  return {
    operatorStakeInit: (input) => operator.stakeInit(input),
    async operatorStakeStatus(input) {
      const [status, control] = await Promise.all([operator.stakeStatus(input), controlStatus(deps.client, deps.rawConfig())]);
      return { ...status, cooldown_until: control.cooldowns };
    },
    operatorStakeWithdraw: (input) => operator.stakeWithdraw(input),
    async operatorCheckIntegrity() {
      const bonds = await liveBonds();
      return { ...(await operator.checkIntegrity({ liveBonds: bonds })), live_bonds: bonds.length };
    },
    async operatorCheckPool(input) {
      const { config } = await controlStatus(deps.client, deps.rawConfig());
      return operator.checkPool({ program: input.program, stake: config.speculation.stake });
    },
  };
}
