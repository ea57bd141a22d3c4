/** A burst of submissions at once, as the admission tests make it. */
import type { Client } from '@temporalio/client';
import { submitAsAgent } from './agent-keys';
import { controlStatus } from '../../temporal/control';
import { pollUntil } from './poll';

/**
 * Submits `count` tasks `burst-0`… at the same moment, each standing for `workMs` of work so that none
 * frees its slot while the burst lasts: the ids, the admitted ones, and what every other submission got.
 */
export async function submitBurst(
  { client, keysDir }: { client: Client; keysDir: string },
  count: number,
  workMs: number,
): Promise<{ ids: string[]; admitted: string[]; others: unknown[] }> {
  const ids = Array.from({ length: count }, (_, i) => `burst-${i}`);
  const outcomes = await Promise.all(
    ids.map((taskId, i) =>
      submitAsAgent(client, keysDir, { type: 'compute', payload: { value: i, work_ms: workMs }, taskId }).then(
        () => 'admitted' as const,
        (e: unknown) => e,
      ),
    ),
  );
  return {
    ids,
    admitted: ids.filter((_, i) => outcomes[i] === 'admitted'),
    others: outcomes.filter((o) => o !== 'admitted'),
  };
}

/** Waits until every admission slot is free: a task reports itself final a moment before its taskClosed signal reaches the control workflow. */
export async function slotsGivenBack(client: Client): Promise<void> {
  await pollUntil(
    'every slot to be given back',
    () => controlStatus(client),
    (c) => c.open_tasks === 0,
    10_000,
    100,
  );
}
