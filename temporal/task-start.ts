/**
 * Starting a task's workflow: a submission's first attempt (client/tasks.ts submitTask) and every later one
 * (attempts.ts). One place says what the Web UI shows of a task and which search attributes it starts with.
 */
import type { Client } from '@temporalio/client';
import { SA } from '../shared/search-attributes';
import { dependenciesOf, dependencySpec, type TaskInput, taskLink, taskWorkflowId } from '../shared/task-model';
import { TASK_QUEUE } from '../shared/task-queues';
import type { speculativeTask } from '../workflows/task/speculative-task';

/**
 * Starts `task-<id>` with `input`. A first attempt refuses an id in use (REJECT_DUPLICATE: task ids are
 * unique); a later attempt is a new run of the same workflow id, which needs the last one closed.
 */
export async function startTaskWorkflow(client: Client, input: TaskInput): Promise<void> {
  const { taskId, agent, type, rootTaskId } = input;
  const parents = dependenciesOf(input);
  const parentIds = parents.map((p) => p.taskId);
  const attempt = input.attempt ?? 1;
  const link = (id: string) => taskLink(client.options.namespace, id);
  const parentNote = parents.length ? `, depends on ${parents.map(dependencySpec).join(', ')}` : '';
  await client.workflow.start<typeof speculativeTask>('speculativeTask', {
    workflowId: taskWorkflowId(taskId),
    taskQueue: TASK_QUEUE,
    args: [input],
    workflowIdReusePolicy: attempt > 1 ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: SA.taskId, value: taskId },
      { key: SA.rootTaskId, value: rootTaskId },
      { key: SA.agent, value: agent },
      { key: SA.taskType, value: type },
      { key: SA.status, value: 'pending' },
      ...(parents.length
        ? [
            { key: SA.parentTaskId, value: parentIds[0]! },
            { key: SA.parentTaskIds, value: parentIds },
          ]
        : []),
    ],
    staticSummary: `task ${taskId} (${type}, agent ${agent}${parentNote})${attempt > 1 ? `, attempt ${attempt}` : ''}`,
    staticDetails: [
      `**Task** \`${taskId}\` of type \`${type}\`, agent \`${agent}\` (key \`${input.agentPublicKey}\`).`,
      parents.length
        ? `Depends on ${parents.map((p) => `${link(p.taskId)} (${p.kind})`).join(', ')} (tree root ${link(rootTaskId)}).`
        : 'A root task.',
      `Payload: \`${JSON.stringify(input.payload)}\``,
      ...(input.deadline ? [`Deadline: ${input.deadline} (confirmed by then, or rolled back as claim_expired).`] : []),
      ...(attempt > 1
        ? [
            `Attempt ${attempt}; before: ${(input.previousAttempts ?? [])
              .map((a) => `attempt ${a.attempt} ${a.status}${a.rollback_reason ? ` (${a.rollback_reason})` : ''}`)
              .join(', ')}.`,
          ]
        : []),
    ].join('\n\n'),
  });
}
