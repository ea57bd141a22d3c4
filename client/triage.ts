/**
 * What an on-call engineer asks first in an incident, answered from Temporal (visibility, the tasks'
 * states, the proof queue) instead of visibility queries typed by hand: `agenc speculation stuck`,
 * `agenc speculation rollbacks`, `agenc proof-worker status`.
 */
import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { parseDuration } from '../shared/rollout-model';
import { SA } from '../shared/search-attributes';
import { ROLLBACK_REASONS, type TaskState, taskIdOfWorkflow } from '../shared/task-model';
import { describeProofQueue } from '../workers/proof-backlog';
import { finalTaskState, getTaskState, InvalidArgumentError } from './tasks';

/** The task a listed workflow runs (its search attribute, else its workflow id). */
function taskIdOf(wf: {
  workflowId: string;
  typedSearchAttributes: { get: (k: typeof SA.taskId) => string | undefined };
}): string {
  return wf.typedSearchAttributes.get(SA.taskId) ?? taskIdOfWorkflow(wf.workflowId) ?? wf.workflowId;
}

/** A duration flag (`--older-than 10m`, `--since 24h`) in ms, refused with its field when it is not one. */
export function durationArgument(flag: string, value: string): number {
  const ms = parseDuration(value as Duration);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new InvalidArgumentError(
      flag,
      `--${flag} ${JSON.stringify(value)} is not a duration (e.g. 90s, 10m, 1h, 24h)`,
      `invalid_${flag.replace(/-/g, '_')}`,
    );
  return ms;
}

export interface StuckTask {
  task_id: string;
  status: string;
  speculation_status: string;
  agent: string;
  /** When it entered its current status, and for how long it has been in it. */
  since: string | null;
  for_ms: number;
  waiting_for: string | null;
}

/**
 * Tasks in a non-final status for longer than `olderThanMs`, longest first, with what each waits for
 * (read from the task itself: a task whose query no worker answers is listed as such).
 */
export async function stuckTasks(
  client: Client,
  opts: { olderThanMs: number; limit: number; nowMs?: number },
): Promise<StuckTask[]> {
  const now = opts.nowMs ?? Date.now();
  const startedBefore = new Date(now - opts.olderThanMs).toISOString();
  const query = `WorkflowType="speculativeTask" AND ExecutionStatus="Running" AND StartTime < "${startedBefore}"`;
  const rows: StuckTask[] = [];
  for await (const wf of client.workflow.list({ query })) {
    const taskId = taskIdOf(wf);
    const state = await getTaskState(client, taskId).catch(() => undefined);
    const status = state?.status ?? wf.typedSearchAttributes.get(SA.status) ?? 'unknown';
    const since = state?.timestamps[state.status] ?? wf.startTime?.toISOString() ?? null;
    const forMs = since ? now - Date.parse(since) : now - (wf.startTime?.getTime() ?? now);
    if (forMs < opts.olderThanMs) continue;
    rows.push({
      task_id: taskId,
      status,
      speculation_status: state?.speculation_status ?? wf.typedSearchAttributes.get(SA.speculationStatus) ?? 'pending',
      agent: state?.agent ?? wf.typedSearchAttributes.get(SA.agent) ?? '-',
      since,
      for_ms: forMs,
      waiting_for: state
        ? state.waiting_for
        : 'unknown: no worker answered the task query (is an agenc-tasks worker running?)',
    });
    if (rows.length >= opts.limit) break;
  }
  return rows.sort((a, b) => b.for_ms - a.for_ms);
}

export interface RollbackRow {
  task_id: string;
  status: string;
  reason: string | null;
  depth: number;
  /** Its bond's outcome (released, slashed), or null when it held none. */
  bond: string | null;
  /** What caused it: the parent whose failure it rolled back for, an operator, or its own failure. */
  caused_by: string;
  agent: string;
  closed: string | null;
}

function causeOf(s: TaskState): string {
  if (s.forced_rollback) return `operator: ${s.forced_rollback.reason}`;
  const parent = s.rollback_causes?.[0]?.task_id;
  if (parent) return `task ${parent}`;
  return s.status === 'failed' ? 'itself (its agent)' : 'the system';
}

/** Tasks that rolled back or failed within `sinceMs`, newest first: reason, depth, bond outcome and cause. */
export async function recentRollbacks(
  client: Client,
  opts: { sinceMs: number; reason?: string; limit: number; nowMs?: number },
): Promise<RollbackRow[]> {
  if (opts.reason !== undefined && !(ROLLBACK_REASONS as readonly string[]).includes(opts.reason))
    throw new InvalidArgumentError(
      'reason',
      `--reason ${JSON.stringify(opts.reason)} is not a rollback reason (one of ${ROLLBACK_REASONS.join(', ')})`,
      'invalid_reason',
    );
  const since = new Date((opts.nowMs ?? Date.now()) - opts.sinceMs).toISOString();
  const clauses = [
    'WorkflowType="speculativeTask"',
    'AgencStatus IN ("rolled_back", "failed")',
    `CloseTime > "${since}"`,
    ...(opts.reason ? [`AgencRollbackReason="${opts.reason}"`] : []),
  ];
  const rows: RollbackRow[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const taskId = taskIdOf(wf);
    const s = await finalTaskState(client, taskId);
    rows.push({
      task_id: taskId,
      status: s.status,
      reason: s.rollback_reason,
      depth: s.depth,
      bond: s.bond?.state ?? null,
      caused_by: causeOf(s),
      agent: s.agent,
      closed: wf.closeTime?.toISOString() ?? null,
    });
    if (rows.length >= opts.limit) break;
  }
  return rows.sort((a, b) => (b.closed ?? '').localeCompare(a.closed ?? ''));
}

export interface ProofWorkerStatus {
  /** Proof workers polling `agenc-proofs` (Temporal's poller list: identity pid@host, last poll). */
  workers: Array<{ identity: string; last_poll: string | null }>;
  /** Proofs waiting for a proof worker, and how long the oldest has waited (null when none waits). */
  backlog: number;
  oldest_waiting_ms: number | null;
  /** The proof times of the most recently confirmed tasks, newest first, with their median and maximum. */
  recent: Array<{ task_id: string; proof_ms: number; confirmed: string | null }>;
  recent_p50_ms: number | null;
  recent_max_ms: number | null;
}

export async function proofWorkerStatus(client: Client, opts: { recent: number }): Promise<ProofWorkerStatus> {
  const described = await describeProofQueue(client);
  const age = described.stats?.approximateBacklogAge;
  const backlog = Number(described.stats?.approximateBacklogCount ?? 0);
  const ageMs = age ? Number(age.seconds ?? 0) * 1000 + Math.round((age.nanos ?? 0) / 1e6) : 0;
  const recent: ProofWorkerStatus['recent'] = [];
  const query = 'WorkflowType="speculativeTask" AND AgencStatus="confirmed"';
  for await (const wf of client.workflow.list({ query })) {
    if (recent.length >= opts.recent) break;
    const taskId = taskIdOf(wf);
    const s = await finalTaskState(client, taskId).catch(() => undefined);
    if (s?.proof.duration_ms !== undefined)
      recent.push({ task_id: taskId, proof_ms: s.proof.duration_ms, confirmed: s.timestamps.confirmed ?? null });
  }
  recent.sort((a, b) => (b.confirmed ?? '').localeCompare(a.confirmed ?? ''));
  const times = recent.map((r) => r.proof_ms).sort((a, b) => a - b);
  return {
    workers: (described.pollers ?? []).map((p) => ({
      identity: p.identity ?? '?',
      last_poll: p.lastAccessTime?.seconds ? new Date(Number(p.lastAccessTime.seconds) * 1000).toISOString() : null,
    })),
    backlog,
    oldest_waiting_ms: backlog > 0 ? ageMs : null,
    recent,
    recent_p50_ms: times.length ? times[Math.floor((times.length - 1) / 2)]! : null,
    recent_max_ms: times.length ? times[times.length - 1]! : null,
  };
}
