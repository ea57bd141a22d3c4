/**
 * `cascadeRollback`: the fast cascade, run once by the task whose failure starts it (the origin). It
 * reads the affected graph (each descendant's state, by query), asks every member to join at once (an
 * Update each: the member stops its forward run and answers whether it holds a bond), releases the
 * members' bonds deepest first in batched transactions, and tells each member its verdict. Members do
 * not wait for their subtree, so the rollback of a chain or a tree takes a few round trips instead of
 * two per level; the decisions are in workflows/cascade-decisions.ts.
 *
 * Idempotent: a member answers a second join by the same origin as the first, bonds already released
 * are reported from the chain, and a member keeps the first verdict it hears. Should anything fail once
 * members have joined, every joined member is told to settle itself (the rollback without a cascade,
 * which keeps the same order by waiting for its dependents) and the origin does the same.
 */
import { Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import {
  type CascadeAnswer,
  type CascadeVerdict,
  cascadeSettledSignal,
  joinCascadeUpdate,
  taskStateQuery,
} from '../shared/messages';
import { pool } from '../shared/pool';
import type { CascadeRollbackInput, CascadeRollbackResult } from '../shared/cascade-records';
import type { SettleBondResult } from '../shared/stake-records';
import { type RollbackReason, taskWorkflowId } from '../shared/task-model';
import {
  type CascadeNode,
  cascadeMembers,
  cascadeNode,
  causeOf,
  settledDependentsOf,
  settlementPlan,
  unread,
} from '../workflows/cascade-decisions';
import type { ReleaseBondsInput } from './chain/stake-activities';

/** Workflows asked at once: enough to hide round trips, few enough not to flood the frontend. */
const CONCURRENCY = 32;

export interface CascadeActivityDeps {
  client: Client;
  releaseBonds: (input: ReleaseBondsInput) => Promise<SettleBondResult[]>;
}

export function createCascadeActivities(deps: CascadeActivityDeps) {
  const handle = (taskId: string) => deps.client.workflow.getHandle(taskWorkflowId(taskId));

  /** A task's node, or a closed one that takes no part when its workflow is gone. */
  async function readNode(taskId: string): Promise<CascadeNode> {
    try {
      return cascadeNode(await handle(taskId).query(taskStateQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { status: 'closed', parents: [], dependents: [] };
      throw err;
    }
  }

  /** Asks a member to join; a workflow that has closed meanwhile is final (it settled, or never will). */
  async function join(taskId: string, origin: string, cause: string, reason: RollbackReason): Promise<CascadeAnswer> {
    try {
      return await handle(taskId).executeUpdate(joinCascadeUpdate, { args: [{ origin, cause, reason }] });
    } catch (err) {
      const running = await handle(taskId)
        .describe()
        .then((d) => d.status.name === 'RUNNING')
        .catch((e: unknown) => (e instanceof WorkflowNotFoundError ? false : Promise.reject(e)));
      if (running) throw err;
      return { joined: false, final: true, status: 'closed', why: 'its workflow has closed' };
    }
  }

  async function cascadeRollback(input: CascadeRollbackInput): Promise<CascadeRollbackResult> {
    const { origin, policy } = input;
    const progress = { phase: 'reading the graph', members: 0, joined: 0 };
    const beat = setInterval(() => Context.current().heartbeat(progress), 2000);
    const nodes = new Map<string, CascadeNode>([
      [origin, { status: 'rolling_back', parents: [], dependents: input.dependents }],
    ]);
    const answers = new Map<string, CascadeAnswer>();
    let members: string[] = [];
    const timings = { readMs: 0, joinMs: 0, settleMs: 0, tellMs: 0 };
    const timed = async <T>(part: keyof typeof timings, work: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await work();
      } finally {
        timings[part] += Date.now() - t0;
      }
    };
    try {
      try {
        // Read, join, and read again what the answers add (dependents registered since), until nothing is new.
        for (;;) {
          for (let next = unread(origin, members, nodes); next.length; next = unread(origin, members, nodes)) {
            const read = await timed('readMs', () => pool(next, CONCURRENCY, readNode));
            next.forEach((id, i) => nodes.set(id, read[i]!));
            members = cascadeMembers(origin, nodes, policy);
          }
          const ask = members.filter((m) => !answers.has(m));
          progress.members = members.length;
          if (!ask.length) break;
          progress.phase = 'asking members to join';
          const inCascade = (id: string) => id === origin || members.includes(id);
          await timed('joinMs', () =>
            pool(ask, CONCURRENCY, async (id) => {
              const cause = causeOf(nodes.get(id)!, inCascade, policy)!;
              const answer = await join(id, origin, cause, cause === origin ? input.reason : 'parent_rolled_back');
              answers.set(id, answer);
              if (answer.joined) {
                nodes.get(id)!.dependents = answer.dependents;
                progress.joined += 1;
              }
            }),
          );
          members = cascadeMembers(origin, nodes, policy);
        }
      } catch (err) {
        if (![...answers.values()].some((a) => a.joined)) throw err; // nobody joined: retry, or run without a cascade
        return await fallBack(input, answers, members, err);
      }
      try {
        progress.phase = 'settling bonds';
        const plan = settlementPlan(origin, members, nodes, answers, policy);
        const joinedAnswer = (id: string) => answers.get(id) as Extract<CascadeAnswer, { joined: true }>;
        const bonds = plan.batch
          .filter((id) => joinedAnswer(id).bondLocked)
          .map((taskId) => {
            const { agent, attempt } = joinedAnswer(taskId);
            return { taskId, agent, ...(attempt ? { attempt } : {}) };
          });
        const released = bonds.length
          ? await timed('settleMs', () => deps.releaseBonds({ bonds, reason: `cascade from task ${origin}` }))
          : [];
        const settledAt = new Date().toISOString();
        const signatures = new Map(released.map((r) => [r.taskId, r.signature]));
        const batch = new Set(plan.batch);
        progress.phase = 'telling members';
        await timed('tellMs', () =>
          tellAll(
            members.filter((m) => answers.get(m)?.joined),
            (id): CascadeVerdict => ({
              origin,
              settled: batch.has(id),
              ...(batch.has(id) && joinedAnswer(id).bondLocked
                ? { bond: { signature: signatures.get(id) ?? null, settledAt } }
                : {}),
              settledDependents: batch.has(id) ? settledDependentsOf(id, nodes, batch, answers) : [],
            }),
          ),
        );
        return {
          members: members.length,
          joined: progress.joined,
          settledInBatch: plan.batch.length,
          bondsReleased: released.filter((r) => !r.alreadySettled && r.outcome === 'released').length,
          transactions: new Set(released.map((r) => r.signature).filter(Boolean)).size,
          selfSettling: plan.selfSettling.length,
          settledDependents: settledDependentsOf(origin, nodes, batch, answers),
          timings,
        };
      } catch (err) {
        return await fallBack(input, answers, members, err);
      }
    } finally {
      clearInterval(beat);
    }
  }

  /** Something failed after members joined: each settles itself, after its dependents, as without a cascade. */
  async function fallBack(
    input: CascadeRollbackInput,
    answers: ReadonlyMap<string, CascadeAnswer>,
    members: readonly string[],
    err: unknown,
  ): Promise<CascadeRollbackResult> {
    const joined = members.filter((m) => answers.get(m)?.joined);
    const why = err instanceof Error ? err.message : String(err);
    await tellAll(joined, () => ({ origin: input.origin, settled: false, settledDependents: [] }));
    return {
      members: members.length,
      joined: joined.length,
      settledInBatch: 0,
      bondsReleased: 0,
      transactions: 0,
      selfSettling: joined.length,
      settledDependents: [],
      fallback: why,
    };
  }

  /** Sends each task its verdict; one whose workflow has closed needs none. */
  async function tellAll(taskIds: readonly string[], verdict: (taskId: string) => CascadeVerdict): Promise<void> {
    await pool(taskIds, CONCURRENCY, async (id) => {
      try {
        await handle(id).signal(cascadeSettledSignal, verdict(id));
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    });
  }

  return { cascadeRollback };
}
