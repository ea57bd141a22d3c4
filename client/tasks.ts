/**
 * Task submission with admission control, and reading tasks back. The CLI, the demo and the tests all
 * submit through `submitTask`, so a refusal is the same everywhere: nothing is started, and the error
 * says which field, what value, and what is allowed.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Keypair } from '@solana/web3.js';
import {
  ApplicationFailure,
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { DEFAULT_KEYS_DIR, KeyStore, readKeyFile } from '../activities/chain/keys';
import { parentsOf, signSubmission } from '../activities/submission';
import { checkPayload, declaresUndo } from '../activities/task-types/registry';
import { admitTask, controlStatus, withdrawAdmission } from '../temporal/control';
import { taskStateQuery } from '../shared/messages';
import { SA } from '../shared/search-attributes';
import type { Duration } from '@temporalio/common';
import { parseDuration } from '../shared/rollout-model';
import { startTaskWorkflow } from '../temporal/task-start';
import {
  AGENT_NAME_PATTERN,
  DEPENDENCY_KINDS,
  type DependencyKind,
  FINAL_STATUSES,
  MAX_PARENT_SLOTS,
  type TaskDependency,
  MAX_DEPENDENTS,
  TASK_ID_PATTERN,
  type TaskInput,
  type TaskState,
  type TaskStatus,
  TASK_NOT_CONFIRMED,
  TASK_STATUSES,
  taskIdOfWorkflow,
  taskWorkflowId,
} from '../shared/task-model';

export const DEFAULT_AGENT = 'default';

/** Why a submission was refused; `field` names what to fix. */
export class AdmissionError extends Error {
  constructor(
    public readonly field: string,
    message: string,
    public readonly code: string,
  ) {
    super(message);
    this.name = 'AdmissionError';
  }
}

/** No task has this id (no workflow of it); `field` and `code` as the CLI reports them. */
export class TaskNotFoundError extends Error {
  readonly field = 'task_id';
  readonly code = 'unknown_task';
  constructor(public readonly taskId: string) {
    super(`task "${taskId}" does not exist`);
    this.name = 'TaskNotFoundError';
  }
}

/** An argument of a read that is not a value it can take (a filter of `listTasks`); `field` names the flag. */
export class InvalidArgumentError extends Error {
  constructor(
    public readonly field: string,
    message: string,
    public readonly code: string,
  ) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

export interface SubmitRequest {
  type: string;
  payload: unknown;
  /** The parents: `ID` (data), `ID:order`, `ID:confirmed` (see DEPENDENCY_KINDS), or edges already structured. */
  dependsOn?: string | ReadonlyArray<string | TaskDependency>;
  agent?: string;
  taskId?: string;
  /** The key file to sign with (`--key-file`); default the agent's own, `<keys dir>/agents/<agent>.json`. */
  keyFile?: string;
  /** When it must be confirmed by: an ISO time, or a duration from now ("90s", "5m", "2h"). */
  deadline?: string;
}

export interface SubmitOptions {
  rawConfig?: Record<string, unknown>;
  /** Where the agents' key files are; default `$AGENC_KEYS_DIR` or `.data/keys`. */
  keysDir?: string;
}

/** TASK_ID_PATTERN in words, for the errors that refuse a task id. */
const TASK_ID_RULE = 'letters, digits, _ . -, 1-64 characters, starting with a letter or digit';

export function newTaskId(): string {
  return randomBytes(5).toString('hex');
}

/** Running task workflows, from visibility. */
export async function countOpenTasks(client: Client): Promise<number> {
  const { count } = await client.workflow.count('WorkflowType="speculativeTask" AND ExecutionStatus="Running"');
  return count;
}

/**
 * A closed task's final state from its workflow's result, without a query (no worker, no replay): a
 * confirmed task's workflow completes with it, one that failed or rolled back fails with it as details.
 */
export async function finalTaskState(client: Client, taskId: string): Promise<TaskState> {
  try {
    return (await client.workflow.getHandle(taskWorkflowId(taskId)).result()) as TaskState;
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === TASK_NOT_CONFIRMED && cause.details?.[0])
      return cause.details[0] as TaskState;
    if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(taskId);
    throw err;
  }
}

export async function getTaskState(client: Client, taskId: string): Promise<TaskState> {
  try {
    return await client.workflow.getHandle(taskWorkflowId(taskId)).query(taskStateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(taskId);
    throw err;
  }
}

/**
 * The checks of a submission that need no running system (agent name, task id, payload), so the CLI
 * reports a bad argument as such even when Temporal is down. Throws AdmissionError.
 */
/**
 * A deadline as the task carries it (an ISO time), from an ISO time or a duration from `nowMs`; refuses
 * (field `deadline`) what is neither, and a time already past.
 */
export function resolveDeadline(value: string, nowMs = Date.now()): string {
  const trimmed = value.trim();
  const isTime = /^\d{4}-\d{2}-\d{2}T/.test(trimmed);
  const ms = isTime ? Date.parse(trimmed) - nowMs : parseDuration(trimmed as Duration);
  if (!Number.isFinite(ms)) {
    throw new AdmissionError(
      'deadline',
      `--deadline "${value}" is neither an ISO time (e.g. 2026-12-05T18:00:00Z) nor a duration from now (e.g. 90s, 5m, 2h)`,
      'invalid_deadline',
    );
  }
  if (ms <= 0) {
    throw new AdmissionError(
      'deadline',
      `--deadline "${value}" is ${isTime ? 'already past' : 'not a positive duration'} (now ${new Date(nowMs).toISOString()}): a deadline must be in the future`,
      'invalid_deadline',
    );
  }
  return new Date(nowMs + ms).toISOString();
}

export function checkSubmitRequest(req: SubmitRequest): {
  agent: string;
  taskId: string;
  payload: unknown;
  deadline?: string;
} {
  const agent = req.agent ?? DEFAULT_AGENT;
  if (!AGENT_NAME_PATTERN.test(agent)) {
    throw new AdmissionError(
      'agent',
      `--agent "${agent}" is not a valid agent name (lower-case letters, digits, _ and -, 1-32 characters)`,
      'invalid_agent',
    );
  }
  const taskId = req.taskId ?? newTaskId();
  if (!TASK_ID_PATTERN.test(taskId)) {
    throw new AdmissionError('task_id', `task id "${taskId}" is not valid (${TASK_ID_RULE})`, 'invalid_task_id');
  }
  const checked = checkPayload(req.type, req.payload);
  if (!checked.ok) throw new AdmissionError('payload', checked.message, 'invalid_payload');
  const deadline = req.deadline === undefined ? undefined : resolveDeadline(req.deadline);
  return { agent, taskId, payload: checked.payload, ...(deadline ? { deadline } : {}) };
}

/**
 * The keypair a submission is signed with: the agent's own key file in the keys directory, or `keyFile`.
 * A submitter who does not hold the agent's key cannot sign for it, so this refuses (AdmissionError on
 * `agent`, nothing started) when there is no key file, when it cannot be read, or when `keyFile` holds
 * another key than the one registered for the agent (when this machine can see that registration; the
 * worker checks it again either way).
 */
export function agentSigningKey(req: SubmitRequest, opts: Pick<SubmitOptions, 'keysDir'> = {}): Keypair {
  const agent = req.agent ?? DEFAULT_AGENT;
  const keysDir = opts.keysDir ?? process.env.AGENC_KEYS_DIR ?? DEFAULT_KEYS_DIR;
  const ownFile = new KeyStore(keysDir).agentKeyPath(agent);
  const read = (file: string, what: string): Keypair => {
    try {
      return readKeyFile(file);
    } catch (err) {
      throw new AdmissionError(
        'agent',
        `${what}: ${(err as Error).message}; a task is signed with its agent's key, so nothing was submitted`,
        'agent_key_unreadable',
      );
    }
  };
  if (req.keyFile === undefined) {
    if (!fs.existsSync(ownFile)) {
      throw new AdmissionError(
        'agent',
        `--agent "${agent}": no key file at ${ownFile}, and a task is signed with its agent's key, so nothing was submitted; ` +
          `create the agent with \`agenc stake init --agent ${agent} --amount <lamports>\`, set AGENC_KEYS_DIR to the directory ` +
          `that holds its key, or pass --key-file <path to ${agent}'s key file>`,
        'agent_key_missing',
      );
    }
    return read(ownFile, `--agent "${agent}": cannot read its key file`);
  }
  const keyFile = path.resolve(req.keyFile);
  if (!fs.existsSync(keyFile)) {
    throw new AdmissionError(
      'agent',
      `--key-file ${keyFile} does not exist; pass the path of agent "${agent}"'s key file (a Solana CLI key file, mode 600)`,
      'agent_key_missing',
    );
  }
  const keypair = read(keyFile, `--key-file ${keyFile}`);
  if (fs.existsSync(ownFile) && path.resolve(ownFile) !== keyFile) {
    const registered = read(ownFile, `--agent "${agent}": cannot read its registered key file`).publicKey;
    if (!registered.equals(keypair.publicKey)) {
      throw new AdmissionError(
        'agent',
        `--key-file ${keyFile} holds key ${keypair.publicKey.toBase58()}, but agent "${agent}" is registered with key ` +
          `${registered.toBase58()} (${ownFile}): only "${agent}"'s own key can sign its tasks, so nothing was submitted; ` +
          `pass that agent's key file, or submit as the agent this key belongs to`,
        'agent_key_mismatch',
      );
    }
  }
  return keypair;
}

/**
 * `--depends-on` values as edges: `ID` (data), `ID:order`, `ID:confirmed` (DEPENDENCY_KINDS), or edges
 * already structured. Refuses (AdmissionError on `depends_on`, naming the value) a spec that is not a task
 * id with an optional kind, a parent named twice, and the task itself.
 */
export function parseDependsOn(
  dependsOn: SubmitRequest['dependsOn'],
  taskId: string,
  maxParents = MAX_PARENT_SLOTS,
): TaskDependency[] {
  const specs = dependsOn === undefined ? [] : Array.isArray(dependsOn) ? dependsOn : [dependsOn];
  const parents = specs.map((spec): TaskDependency => {
    if (typeof spec !== 'string') return spec;
    const [id = '', kind = 'data', ...rest] = spec.split(':');
    if (!TASK_ID_PATTERN.test(id) || rest.length || !(DEPENDENCY_KINDS as readonly string[]).includes(kind)) {
      throw new AdmissionError(
        'depends_on',
        `--depends-on "${spec}" is not a dependency: write a task id (${TASK_ID_RULE}), optionally followed by ` +
          `:order or :confirmed (${DEPENDENCY_KINDS.join(', ')}; data is the default)`,
        'invalid_dependency',
      );
    }
    return { taskId: id, kind: kind as DependencyKind };
  });
  const seen = new Set<string>();
  for (const p of parents) {
    if (p.taskId === taskId)
      throw new AdmissionError(
        'depends_on',
        `--depends-on "${p.taskId}": a task cannot depend on itself`,
        'self_dependency',
      );
    if (seen.has(p.taskId))
      throw new AdmissionError(
        'depends_on',
        `--depends-on "${p.taskId}" is named twice; name each parent once, with one kind`,
        'duplicate_parent',
      );
    seen.add(p.taskId);
  }
  refuseTooManyParents(parents.length, maxParents);
  return parents;
}

function refuseTooManyParents(count: number, maxParents: number): void {
  if (count > maxParents)
    throw new AdmissionError(
      'depends_on',
      `--depends-on names ${count} parents; at most speculation.limits.max_parents = ${maxParents} are allowed ` +
        `(the join circuit proves ${MAX_PARENT_SLOTS} parent slots)`,
      'too_many_parents',
    );
}

/** Refuses a parent that cannot have a confirmed dependent (unknown, failed, rolled back) or that has too many. */
async function checkParent(client: Client, parentId: string): Promise<TaskState> {
  let parent: TaskState;
  try {
    parent = await getTaskState(client, parentId);
  } catch (err) {
    if (err instanceof TaskNotFoundError) {
      throw new AdmissionError('depends_on', `--depends-on "${parentId}": no such task`, 'unknown_parent');
    }
    throw err;
  }
  if (parent.status === 'failed' || parent.status === 'rolled_back' || parent.status === 'rolling_back') {
    const what = { failed: 'has failed', rolled_back: 'has rolled back', rolling_back: 'is rolling back' }[
      parent.status
    ];
    throw new AdmissionError(
      'depends_on',
      `--depends-on "${parentId}": that task ${what} (${parent.rollback_reason ?? 'no reason recorded'}); a dependent of it could never confirm`,
      'parent_final',
    );
  }
  if (parent.dependents.length >= MAX_DEPENDENTS) {
    throw new AdmissionError(
      'depends_on',
      `--depends-on "${parentId}": that task already has ${parent.dependents.length} dependents, the most one task may have ` +
        `(MAX_DEPENDENTS = ${MAX_DEPENDENTS}: each one grows its workflow history, which the server caps); make this task depend on one of them instead`,
      'too_many_dependents',
    );
  }
  return parent;
}

/** Refuses more parents than the live `speculation.limits.max_parents` (asked of the control workflow only for a join). */
async function checkParentLimit(client: Client, count: number, rawConfig?: Record<string, unknown>): Promise<void> {
  if (count > 1)
    refuseTooManyParents(count, (await controlStatus(client, rawConfig)).config.speculation.limits.max_parents);
}

export async function submitTask(
  client: Client,
  req: SubmitRequest,
  opts: SubmitOptions = {},
): Promise<{
  task_id: string;
  workflow_id: string;
  parent_task_id: string | null;
  parents: Array<{ task_id: string; kind: DependencyKind }>;
  agent: string;
  agent_public_key: string;
  type: string;
  root_task_id: string;
  deadline: string | null;
}> {
  const checked = checkSubmitRequest(req);
  const { agent, taskId } = checked;
  const key = agentSigningKey(req, opts);
  const parents = parseDependsOn(req.dependsOn, taskId);
  await checkParentLimit(client, parents.length, opts.rawConfig);
  const parentIds = parents.map((p) => p.taskId);
  const agentPublicKey = key.publicKey.toBase58();
  const submissionSignature = signSubmission(
    { taskId, type: req.type, payload: checked.payload, parentTaskIds: parentsOf({ parents }), agent, agentPublicKey },
    key.secretKey,
  );

  // Cycles cannot form: every parent must exist before its dependent starts, and a task id is never reused.
  const parentStates = await Promise.all(parentIds.map((id) => checkParent(client, id)));
  const rootTaskId = parentStates[0]?.root_task_id ?? taskId;

  const admission = await admitTask(client, taskId, opts.rawConfig);
  if (!admission.admitted) throw new AdmissionError('max_pending_operations', admission.message, 'too_many_pending');

  const input: TaskInput = {
    taskId,
    type: req.type,
    payload: checked.payload,
    agent,
    parentTaskId: parentIds[0],
    parents,
    rootTaskId,
    submittedAt: new Date().toISOString(),
    agentPublicKey,
    submissionSignature,
    ...(checked.deadline ? { deadline: checked.deadline } : {}),
    ...(declaresUndo(req.type) ? { undoable: true } : {}),
  };
  try {
    await startTaskWorkflow(client, input);
  } catch (err) {
    // Nothing started: give the slot back, unless it was already this (running) task's own.
    if (admission.reserved) await withdrawAdmission(client, taskId);
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new AdmissionError('task_id', `task id "${taskId}" already exists; task ids are unique`, 'duplicate_task');
    }
    throw err;
  }
  return {
    task_id: taskId,
    workflow_id: taskWorkflowId(taskId),
    parent_task_id: parentIds[0] ?? null,
    parents: parents.map((p) => ({ task_id: p.taskId, kind: p.kind })),
    agent,
    agent_public_key: agentPublicKey,
    type: req.type,
    root_task_id: rootTaskId,
    deadline: checked.deadline ?? null,
  };
}

/** Waits for a task to reach a final state, reporting each status change. */
export async function waitForTask(
  client: Client,
  taskId: string,
  opts: {
    timeoutMs: number;
    onProgress?: (state: TaskState, elapsedMs: number) => void;
    onQueryError?: (err: Error) => void;
    pollMs?: number;
  },
): Promise<{ state: TaskState; timedOut: boolean }> {
  const started = Date.now();
  let last: TaskStatus | undefined;
  let lastReport = 0;
  let state: TaskState | undefined;
  for (;;) {
    try {
      state = await getTaskState(client, taskId);
    } catch (err) {
      // A query needs a live worker: while one restarts, keep waiting rather than fail the wait.
      if (err instanceof TaskNotFoundError) throw err;
      opts.onQueryError?.(err as Error);
      if (Date.now() - started >= opts.timeoutMs) {
        if (!state) throw err;
        return { state, timedOut: true };
      }
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    const elapsed = Date.now() - started;
    if (state.status !== last || elapsed - lastReport >= 5000) {
      opts.onProgress?.(state, elapsed);
      last = state.status;
      lastReport = elapsed;
    }
    // An attempt followed by the next (the checkpoint policy) is not the end: the next run answers soon.
    if (FINAL_STATUSES.includes(state.status) && !state.retry) return { state, timedOut: false };
    if (elapsed >= opts.timeoutMs) return { state, timedOut: true };
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}

export interface TaskListRow {
  task_id: string;
  status: string;
  speculation_status: string;
  depth: number | null;
  parent_task_id: string | null;
  /** Every parent (AgencParentTaskIds), or the one of a task started before task graphs (AgencParentTaskId). */
  parent_task_ids: string[];
  root_task_id: string | null;
  agent: string | null;
  started: string | null;
}

/** A task id given as `--<flag>`, checked before it goes inside a quoted literal of a visibility query. */
function taskIdArgument(flag: 'root' | 'parent', value: string): string {
  if (!TASK_ID_PATTERN.test(value))
    throw new InvalidArgumentError(
      flag,
      `--${flag} ${JSON.stringify(value)} is not a task id (${TASK_ID_RULE})`,
      `invalid_${flag}`,
    );
  return value;
}

/**
 * The tasks visibility knows. `status`, `root` and `parent` go into the visibility query inside quoted
 * literals, so each is checked against what it can be (a task status; a task id, which holds no quote or
 * backslash) and refused with an InvalidArgumentError naming the flag: an unchecked value could end the
 * literal and add clauses of its own, or break the query. `parent` lists the task's children of every
 * kind: those that name it among their parents (AgencParentTaskIds) and those started before task
 * graphs, which name only their one parent (AgencParentTaskId).
 */
export async function listTasks(
  client: Client,
  opts: { status?: string; root?: string; parent?: string; limit?: number } = {},
): Promise<TaskListRow[]> {
  const clauses = ['WorkflowType="speculativeTask"'];
  if (opts.status !== undefined) {
    if (!(TASK_STATUSES as readonly string[]).includes(opts.status)) {
      throw new InvalidArgumentError(
        'status',
        `--status "${opts.status}" is not a task status (one of ${TASK_STATUSES.join(', ')})`,
        'invalid_status',
      );
    }
    clauses.push(`AgencStatus="${opts.status}"`);
  }
  if (opts.root !== undefined) clauses.push(`AgencRootTaskId="${taskIdArgument('root', opts.root)}"`);
  if (opts.parent !== undefined) {
    const parent = taskIdArgument('parent', opts.parent);
    clauses.push(`(AgencParentTaskIds="${parent}" OR AgencParentTaskId="${parent}")`);
  }
  const rows: TaskListRow[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const sa = wf.typedSearchAttributes;
    const parentTaskId = sa.get(SA.parentTaskId);
    rows.push({
      task_id: sa.get(SA.taskId) ?? taskIdOfWorkflow(wf.workflowId) ?? wf.workflowId,
      status: sa.get(SA.status) ?? 'unknown',
      speculation_status: sa.get(SA.speculationStatus) ?? 'pending',
      depth: sa.get(SA.depth) ?? null,
      parent_task_id: parentTaskId ?? null,
      parent_task_ids: sa.get(SA.parentTaskIds) ?? (parentTaskId === undefined ? [] : [parentTaskId]),
      root_task_id: sa.get(SA.rootTaskId) ?? null,
      agent: sa.get(SA.agent) ?? null,
      started: wf.startTime?.toISOString() ?? null,
    });
    if (rows.length >= (opts.limit ?? 100)) break;
  }
  return rows;
}
