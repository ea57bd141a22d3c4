/**
 * `verifySubmission`, on `agenc-tasks` (the worker that holds the key store): is a task's submission
 * signed by the agent it names? The task workflow asks before anything is bonded.
 *
 * An agent is its keypair: the key registered for a name is the public key of the agent's wallet in the
 * key store (`<keysDir>/agents/<name>.json`, made by `agenc stake init`). A submission is good when its
 * signature verifies against its public key over the canonical message (submission.ts) and that key is the
 * agent's registered one. Anything else is a verdict naming what is wrong: the workflow refuses the task
 * (`submission_refused`), nothing bonded, nothing slashed.
 */
import type { KeyStore } from './chain/keys';
import { AGENT_NAME_PATTERN } from '../shared/task-model';
import type { SubmissionToVerify, SubmissionVerdict, TaskActivities } from '../shared/activity-contract';
import { systemFault } from './proof/system-fault';
import { parentsOf, publicKeyBytes, verifySubmissionSignature } from './submission';

/** The key registered for an agent: its base58 public key, or why there is none. */
export type RegisteredKey = { publicKey: string } | { missing: string };

/**
 * The verdict on a submission, given how to read the key registered for its agent (read only once the
 * signature verified). The activity below reads the registration, this decides.
 */
export function judgeSubmission(input: SubmissionToVerify, registration: () => RegisteredKey): SubmissionVerdict {
  const { taskId, agent, agentPublicKey, submissionSignature } = input;
  const refused = (code: Exclude<SubmissionVerdict, { valid: true }>['code'], why: string): SubmissionVerdict => ({
    valid: false,
    code,
    reason: `submission of task ${taskId} refused: ${why}; nothing was bonded`,
  });
  const signHow = `\`agenc task submit --agent ${agent}\` signs with that agent's key file`;
  if (!agentPublicKey || !submissionSignature) {
    const absent = [!agentPublicKey && 'public key', !submissionSignature && 'signature'].filter(Boolean).join(' and ');
    return refused(
      'missing_signature',
      `it carries no agent ${absent}, and every task is signed by the agent it names ("${agent}"); ${signHow}`,
    );
  }
  try {
    publicKeyBytes(agentPublicKey);
  } catch (err) {
    return refused('malformed_public_key', `its agent ${(err as Error).message}`);
  }
  const fields = { ...input, parentTaskIds: parentsOf(input), agentPublicKey };
  if (!verifySubmissionSignature(fields, submissionSignature)) {
    return refused(
      'bad_signature',
      `its signature does not verify against public key ${agentPublicKey} over its task id, type, payload, parents and agent: ` +
        `it was not made with that key, or the submission was altered after signing; ${signHow}`,
    );
  }
  const registered = registration();
  if ('missing' in registered) {
    return refused('unknown_agent', `agent "${agent}" has no registered key (${registered.missing})`);
  }
  if (registered.publicKey !== agentPublicKey) {
    return refused(
      'not_agents_key',
      `it is signed by key ${agentPublicKey}, which is not agent "${agent}"'s registered key ${registered.publicKey}: ` +
        `only the holder of "${agent}"'s key can submit as "${agent}"`,
    );
  }
  return { valid: true, agentPublicKey };
}

/** The key registered for `agent` in the worker's key store. A key file it cannot read is the system's fault (retryable). */
export function registeredKey(keys: KeyStore, agent: string): RegisteredKey {
  if (!AGENT_NAME_PATTERN.test(agent)) return { missing: `${JSON.stringify(agent)} is not a valid agent name` };
  if (!keys.hasAgent(agent)) {
    return {
      missing:
        `no wallet at ${keys.agentKeyPath(agent)} on this worker; create the agent with ` +
        `\`agenc stake init --agent ${agent} --amount <lamports>\``,
    };
  }
  try {
    return { publicKey: keys.agentPublicKey(agent).toBase58() };
  } catch (err) {
    throw systemFault({
      fault: 'AgentKeyUnreadable',
      component: 'task worker',
      message: `cannot read agent "${agent}"'s registered key: ${(err as Error).message}`,
      cause: err,
      details: { agent },
    });
  }
}

export function createSubmissionActivities(deps: { keys: KeyStore }): Pick<TaskActivities, 'verifySubmission'> {
  return {
    async verifySubmission(input) {
      return judgeSubmission(input, () => registeredKey(deps.keys, input.agent));
    },
  };
}
