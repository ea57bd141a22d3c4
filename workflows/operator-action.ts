/**
 * `operatorAction`: one operator request (`agenc stake …`, `agenc admin check-integrity|check-pool`) run as an
 * activity on `agenc-tasks`, where the chain is. Going through Temporal keeps the CLI free of keys and
 * chain state, and each request shows up in the Web UI with what it did.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { OperatorActivities, OperatorRequest } from '../shared/operator-contract';

const acts = proxyActivities<OperatorActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

export async function operatorAction(request: OperatorRequest): Promise<unknown> {
  switch (request.kind) {
    case 'stakeInit':
      return acts.operatorStakeInit(request.input);
    case 'stakeStatus':
      return acts.operatorStakeStatus(request.input);
    case 'stakeWithdraw':
      return acts.operatorStakeWithdraw(request.input);
    case 'checkIntegrity':
      return acts.operatorCheckIntegrity();
    case 'checkPool':
      return acts.operatorCheckPool(request.input);
    case 'releaseBond':
      return acts.operatorReleaseBond(request.input);
  }
}
