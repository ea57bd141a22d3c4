import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { SA } from '../../../shared/search-attributes';
export async function probe(): Promise<string> {
  upsertSearchAttributes([{ key: SA.rolloutName, value: 'x' }, { key: SA.rolloutPhase, value: 2 }]);
  return JSON.stringify(workflowInfo().typedSearchAttributes);
}
