/**
 * `operatorAction`: one operator request (`agenc stake …` including `stake slashing-history`, `agenc admin check-integrity|check-pool|close-records`) run as an
 * activity on `agenc-tasks`, where the chain is. Going through Temporal keeps the CLI free of keys and
 * chain state, and each request shows up in the Web UI with what it did.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { OperatorActivities, OperatorRequest } from '../shared/operator-contract';

const operatorActivities = proxyActivities<OperatorActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

export async function operatorAction(request: OperatorRequest): Promise<unknown> {
  switch (request.kind) {
    case 'stakeInit':
      return operatorActivities.operatorStakeInit(request.input);
    case 'stakeStatus':
      return operatorActivities.operatorStakeStatus(request.input);
    case 'stakeWithdraw':
      return operatorActivities.operatorStakeWithdraw(request.input);
    case 'checkIntegrity':
      return operatorActivities.operatorCheckIntegrity();
    case 'checkPool':
      return operatorActivities.operatorCheckPool(request.input);
    case 'releaseBond':
      return operatorActivities.operatorReleaseBond(request.input);
    case 'closeRecords':
      return operatorActivities.operatorCloseRecords(request.input);
    case 'slashingHistory':
      return operatorActivities.operatorSlashingHistory(request.input);
  }
}
