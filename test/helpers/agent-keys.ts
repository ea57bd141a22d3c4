/**
 * Agents are keys: a submission is signed with its agent's key file. Tests submit as agents that hold
 * their keys: the agent's keypair is made on first use in the keys directory the test's worker reads
 * (what `agenc stake init` does), then the task is signed from there. A test of a submitter without the
 * agent's key calls submitTask itself.
 */
import type { Keypair } from '@solana/web3.js';
import type { Client } from '@temporalio/client';
import { KeyStore } from '../../activities/chain/keys';
import { parentsOf, signSubmission } from '../../activities/submission';
import { DEFAULT_AGENT, submitTask, type SubmitOptions, type SubmitRequest } from '../../client/tasks';
import { AGENT_NAME_PATTERN, type TaskInput, taskWorkflowId } from '../../shared/task-model';
import { TASK_QUEUE } from '../../shared/task-queues';

/** The agent's keypair in `keysDir`, made if it has none. */
export function ensureAgentKey(keysDir: string, agent: string = DEFAULT_AGENT): Keypair {
  return new KeyStore(keysDir).agent(agent, { create: true });
}

/** submitTask, signed by the request's agent with its key in `keysDir` (made on first use). */
export function submitAsAgent(
  client: Client,
  keysDir: string,
  req: SubmitRequest,
  opts: Omit<SubmitOptions, 'keysDir'> = {},
): ReturnType<typeof submitTask> {
  const agent = req.agent ?? DEFAULT_AGENT;
  // An invalid name is left for submitTask to refuse, as it refuses it for anyone.
  if (req.keyFile === undefined && AGENT_NAME_PATTERN.test(agent)) ensureAgentKey(keysDir, agent);
  return submitTask(client, req, { ...opts, keysDir });
}

/**
 * A task's input signed by `signer` (whoever that is) for `agent`, as submitTask builds it: what an attacker
 * who starts the workflow through the Temporal client can make. `tamper` changes it after signing.
 */
export function signedTaskInput(o: {
  taskId: string;
  agent: string;
  signer: Keypair;
  payload: unknown;
  parentTaskId?: string;
  rootTaskId?: string;
  tamper?: (input: TaskInput) => TaskInput;
}): TaskInput {
  const input: TaskInput = {
    taskId: o.taskId,
    type: 'compute',
    payload: o.payload,
    agent: o.agent,
    ...(o.parentTaskId === undefined ? {} : { parentTaskId: o.parentTaskId }),
    rootTaskId: o.rootTaskId ?? o.parentTaskId ?? o.taskId,
    submittedAt: new Date().toISOString(),
    agentPublicKey: o.signer.publicKey.toBase58(),
  };
  input.submissionSignature = signSubmission(
    { ...input, parentTaskIds: parentsOf(input), agentPublicKey: input.agentPublicKey! },
    o.signer.secretKey,
  );
  return o.tamper ? o.tamper(input) : input;
}

/** Starts a task workflow directly through the Temporal client, past submitTask's checks and admission. */
export async function startTaskWorkflow(client: Client, input: TaskInput): Promise<string> {
  await client.workflow.start('speculativeTask', {
    workflowId: taskWorkflowId(input.taskId),
    taskQueue: TASK_QUEUE,
    args: [input],
  });
  return input.taskId;
}
