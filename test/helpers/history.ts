/** Reading what a workflow did from its event history: the order the saga ran in, as Temporal recorded it. */
import type { Client } from '@temporalio/client';
import { taskWorkflowId } from '../../shared/task-model';

/** When the task's workflow scheduled the named activity (first time), or undefined if it never did. */
export async function activityScheduledAt(
  client: Client,
  taskId: string,
  activityType: string,
): Promise<number | undefined> {
  const history = await client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  for (const event of history.events ?? []) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === activityType) {
      const t = event.eventTime!;
      return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) + (Number(event.eventId) % 1000) / 1e6;
    }
  }
  return undefined;
}

/** Names of every activity the task's workflow scheduled, in order. */
export async function scheduledActivities(client: Client, taskId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes?.activityType?.name
      ? [e.activityTaskScheduledEventAttributes.activityType.name]
      : [],
  );
}

/** Every AgencStatus value the task's workflow upserted, in order (the status story, as Temporal recorded it). */
export async function statusesRecorded(client: Client, taskId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.AgencStatus?.data;
    return data ? [JSON.parse(Buffer.from(data).toString('utf8')) as string] : [];
  });
}
