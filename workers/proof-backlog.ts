/**
 * The proof backlog: proofs scheduled on `agenc-proofs` that no proof worker has taken yet. A proof
 * worker takes only as many proofs as it proves at once, so this is where a burst waits, visible to
 * every worker and taken by whichever proof worker frees first.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { PROOF_QUEUE } from '../shared/task-queues';

/** `agenc-proofs` as Temporal describes it: its pollers (the proof workers) and its backlog statistics. */
export function describeProofQueue(client: Client) {
  return client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: PROOF_QUEUE, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
}

/** Temporal's approximate count of proof activities waiting in `agenc-proofs` (system-wide). */
export async function proofBacklog(client: Client): Promise<number> {
  const { stats } = await describeProofQueue(client);
  return Number(stats?.approximateBacklogCount ?? 0);
}
