/**
 * 4. Cascade rollback: from the root's failure until every descendant has finished its compensations
 * and its bond is released, for chains, wide trees and a DAG with joins.
 *
 * The root claims a wrong output (`claimed_output`): it executes, so its descendants speculate on it,
 * and its proof fails. Its proof is held at the activity boundary until the whole tree is speculating
 * (descendants do not prove: `enable_optimistic_proofs = false`, so nothing but the cascade is
 * measured). Time = the last descendant's bond settled (its `bond.settled_at`, final on the chain) − the
 * root's `rolling_back`, both recorded by the workflows; the last descendant's `rolled_back` (closing)
 * is reported beside it. Baseline = the same for a root with one descendant, in the same run. A chain speculates
 * at most `max_depth` (20, the schema's ceiling) deep: below that, tasks wait for their parent
 * non-speculatively and roll back with the rest. Trees fill level by level with branching 10. The DAG
 * has layers of DAG_WIDTH tasks below the root, each task joining two of the layer above.
 * 7 (memory) comes from here too: this process's RSS while the largest tree speculates, against before.
 */
import { createStakeOperator } from '../activities/chain';
import { settlementsOf } from '../activities/chain/settlements';
import type { CascadeRollbackResult } from '../shared/cascade-records';
import { controlHandle } from '../temporal/control';
import { taskWorkflowId, type TaskState } from '../shared/task-model';
import { benchConfig, type BenchContext, type BenchSystem, ms, pool, quantile } from './harness';

const AGENT = 'bench';
const MAX_DEPTH = 20;
const BRANCHING = 10;
const DAG_WIDTH = 4;
const STALL_MS = 120_000;

interface Shape {
  kind: 'chain' | 'tree' | 'dag';
  descendants: number;
}

/** The targets of the task-graphs issue, from the failing task's failure to the last descendant's bond settled. */
const TARGET_MS: Record<string, number> = {
  'cascade.chain.10': 500,
  'cascade.dag.20': 1000,
  'cascade.tree.100': 3000,
  'cascade.tree.1000': 20_000,
};

/** Parent indices (in submission order, 0 = the root) of every descendant. */
function parents(shape: Shape): number[][] {
  return Array.from({ length: shape.descendants }, (_, i) => {
    if (shape.kind === 'chain') return [i];
    if (shape.kind === 'tree') return [Math.floor(i / BRANCHING)];
    // Layer 0 hangs from the root; a task of a later layer joins two neighbours of the layer above.
    if (i < DAG_WIDTH) return [0];
    const above = i - DAG_WIDTH + 1;
    const layerStart = Math.floor(i / DAG_WIDTH) * DAG_WIDTH - DAG_WIDTH + 1;
    return [above, layerStart + ((i + 1) % DAG_WIDTH)];
  });
}

/** Each descendant's level (the root's children are level 1): tasks of one level are submitted together. */
function levels(parentsOf: number[][]): number[] {
  const level = [0];
  for (const ps of parentsOf) level.push(1 + Math.max(...ps.map((p) => level[p]!)));
  return level.slice(1);
}

async function countVisible(sys: BenchSystem, root: string, clause: string): Promise<number> {
  return (await sys.client.workflow.count(`AgencRootTaskId="${root}" AND ${clause}`)).count;
}

/** What the root's cascade activity answered (its counts and timings), read from the root's history. */
async function cascadeAnswer(sys: BenchSystem, root: string): Promise<CascadeRollbackResult | undefined> {
  const events = (await sys.client.workflow.getHandle(taskWorkflowId(root)).fetchHistory()).events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'cascadeRollback',
  );
  const completed = events.find(
    (e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(scheduled?.eventId),
  );
  const data = completed?.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as CascadeRollbackResult) : undefined;
}

async function historyEvents(sys: BenchSystem, workflowId: string): Promise<number> {
  return (await sys.client.workflow.getHandle(workflowId).fetchHistory()).events?.length ?? 0;
}

/**
 * Where a cascade's time goes, from up to `sample` task histories: the history events written after
 * the root failed (per task), and how long a signal one task sends another (rollback down, settled up,
 * closing to `speculation-control`) takes from the sender's command to the server's acknowledgement.
 */
async function cascadeProfile(sys: BenchSystem, ids: string[], failedAt: number, sample: number) {
  const chosen =
    ids.length <= sample ? ids : Array.from({ length: sample }, (_, i) => ids[Math.floor((i * ids.length) / sample)]!);
  const at = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
    Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;
  const signalMs: number[] = [];
  let events = 0;
  let largestHistory = 0;
  await pool(chosen, 16, async (id) => {
    const history = (await sys.client.workflow.getHandle(taskWorkflowId(id)).fetchHistory()).events ?? [];
    largestHistory = Math.max(largestHistory, history.length);
    const initiated = new Map<string, number>();
    for (const e of history) {
      if (at(e) >= failedAt) events += 1;
      if (e.signalExternalWorkflowExecutionInitiatedEventAttributes) initiated.set(String(e.eventId), at(e));
      const acked = e.externalWorkflowExecutionSignaledEventAttributes;
      const sent = acked ? initiated.get(String(acked.initiatedEventId)) : undefined;
      if (sent !== undefined && sent >= failedAt) signalMs.push(at(e) - sent);
    }
  });
  return {
    eventsPerTask: events / chosen.length,
    largestHistory,
    signals: signalMs.length,
    signalMedianMs: quantile(signalMs, 0.5),
    signalP90Ms: quantile(signalMs, 0.9),
    signalMaxMs: Math.max(0, ...signalMs),
  };
}

export async function benchCascade(ctx: BenchContext): Promise<void> {
  const held = new Map<string, Promise<void>>();
  const sys = await ctx.system('cascade', {
    config: benchConfig({
      speculation: {
        max_depth: MAX_DEPTH,
        max_parallel_branches: BRANCHING,
        limits: { max_state_snapshots: 5000 },
        features: { enable_optimistic_proofs: false },
        // Every shape here fails on purpose: adaptive speculation would rightly lower the depth the next
        // shape speculates at, and this module measures the cascade, not the adaptation.
        adaptive: { enabled: false },
        // Nor its circuit breaker, which a 1,000-task rollback trips (rightly).
        breaker: { enabled: false },
      },
    }),
    worker: {
      embeddedFinalityMs: 0,
      activityInterceptors: [
        (actx) => ({
          inbound: {
            async execute(input, next) {
              const taskId = (input.args[0] as { taskId?: string } | undefined)?.taskId;
              if (actx.info.activityType === 'generateProof' && taskId) await held.get(taskId);
              return next(input);
            },
          },
        }),
      ],
    },
  });
  const shapes: Shape[] = ctx.quick
    ? [
        { kind: 'chain', descendants: 1 },
        { kind: 'chain', descendants: 4 },
        { kind: 'tree', descendants: 4 },
        { kind: 'dag', descendants: 8 },
      ]
    : [
        { kind: 'chain', descendants: 1 },
        { kind: 'chain', descendants: 10 },
        { kind: 'chain', descendants: 100 },
        { kind: 'dag', descendants: 20 },
        { kind: 'tree', descendants: 10 },
        { kind: 'tree', descendants: 100 },
        { kind: 'tree', descendants: 1000 },
      ];
  let baselineMs = NaN;
  let memory:
    | { rssBefore: number; rssActive: number; active: number; before: NodeJS.MemoryUsage; during: NodeJS.MemoryUsage }
    | undefined;
  try {
    await sys.fund(AGENT);
    for (const shape of shapes) {
      const root = `cascade-${shape.kind}-${shape.descendants}`;
      let release!: () => void;
      held.set(root, new Promise((r) => (release = r)));
      const controlBefore = await controlHandle(sys.client).describe();
      const usageBefore = process.memoryUsage();
      const rssBefore = usageBefore.rss;
      const t0 = Date.now();
      const ids = [
        await sys.submit({
          type: 'compute',
          payload: { value: 1, claimed_output: '12345' },
          agent: AGENT,
          taskId: root,
        }),
      ];
      // Level by level: a task is submitted once its parents exist (submission checks them).
      const parentOf = parents(shape);
      const levelOf = levels(parentOf);
      for (let level = 1; level <= Math.max(0, ...levelOf); level++) {
        const tasks = parentOf.flatMap((ps, i) => (levelOf[i] === level ? [{ ps, i }] : []));
        const got = await pool(tasks, 16, ({ ps, i }) =>
          sys.submit({
            type: 'compute',
            payload: { value: 2 + i },
            dependsOn: ps.map((p) => ids[p]!),
            agent: AGENT,
            taskId: `${root}-${i}`,
          }),
        );
        ids.push(...got);
      }
      const submitMs = Date.now() - t0;
      const speculating = shape.kind === 'chain' ? Math.min(shape.descendants, MAX_DEPTH) : shape.descendants;
      const refused = shape.kind === 'chain' && shape.descendants > MAX_DEPTH ? 1 : 0;
      // Bounded by progress: a tree that stops moving for STALL_MS fails the measurement instead of hanging the run.
      let progress = { at: Date.now(), seen: -1 };
      for (;;) {
        const [spec, ref] = await Promise.all([
          countVisible(sys, root, 'AgencStatus="awaiting_ancestors" AND AgencSpeculationStatus="speculative"'),
          countVisible(sys, root, 'AgencSpeculationStatus="depth_limit"'),
        ]);
        if (spec >= speculating && ref >= refused) break;
        if (spec + ref !== progress.seen) progress = { at: Date.now(), seen: spec + ref };
        if (Date.now() - progress.at > STALL_MS) {
          const control = await controlHandle(sys.client).describe();
          throw new Error(
            `cascade ${root}: stalled at ${spec}/${speculating} speculating, ${ref}/${refused} refused for ${STALL_MS / 1000} s; ` +
              `speculation-control: ${control.historyLength} events, pending workflow task ${JSON.stringify(control.raw.pendingWorkflowTask ?? null)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      const speculatingMs = Date.now() - t0;
      const usageActive = process.memoryUsage();
      const rssActive = usageActive.rss;
      release();
      const rootState = await sys.result(root);
      const states: TaskState[] = await pool(ids.slice(1), 32, (id) => sys.result(id));
      const failedAt = ms(rootState.timestamps.rolling_back);
      // The issue's measure: until the last descendant's bond is settled (final on the chain); and until the last closes.
      const bonded = states.filter((s) => s.bond);
      const settledMs = Math.max(...bonded.map((s) => ms(s.bond!.settled_at))) - failedAt;
      const lastMs = Math.max(...states.map((s) => ms(s.timestamps.rolled_back))) - failedAt;
      const settlements = (await settlementsOf(sys.worker.stakeDeps!, AGENT)).filter((x) =>
        ids.slice(1).includes(x.task),
      );
      const cascadeTransactions = new Set(settlements.map((x) => x.signature)).size;
      const settledBy = bonded.filter((s) => s.bond!.settled_by === root).length;
      const answer = await cascadeAnswer(sys, root);
      const timings = answer?.timings;
      const notRolledBack = states.filter(
        (s) => s.status !== 'rolled_back' || (s.bond && s.bond.state !== 'released'),
      ).length;
      const integrity = await createStakeOperator(sys.worker.stakeDeps!).checkIntegrity({ liveBonds: [] });
      const direct = ids.slice(1).filter((_, i) => parentOf[i]!.includes(0));
      const rootEvents = await historyEvents(sys, taskWorkflowId(root));
      const childEvents = await Promise.all(
        direct.slice(0, BRANCHING).map((id) => historyEvents(sys, taskWorkflowId(id))),
      );
      const leafEvents = await historyEvents(sys, taskWorkflowId(ids[ids.length - 1]!));
      const profile = await cascadeProfile(sys, ids, failedAt, 100);
      const controlAfter = await controlHandle(sys.client).describe();
      const sameRun = controlAfter.runId === controlBefore.runId;
      const tasks = shape.descendants + 1;
      if (shape.descendants === 1) baselineMs = settledMs;
      if (
        shape.kind === 'tree' &&
        shape.descendants === Math.max(...shapes.filter((x) => x.kind === 'tree').map((x) => x.descendants))
      ) {
        memory = { rssBefore, rssActive, active: speculating, before: usageBefore, during: usageActive };
      }
      const key = `cascade.${shape.kind}.${shape.descendants}`;
      const target = TARGET_MS[key];
      ctx.record({
        key,
        title: `cascade rollback, ${shape.kind} of ${shape.descendants} descendant(s)`,
        inputs: {
          shape: shape.kind,
          descendants: shape.descendants,
          branching: shape.kind === 'tree' ? BRANCHING : shape.kind === 'dag' ? DAG_WIDTH : 1,
          ...(shape.kind === 'dag' ? { joins: shape.descendants - DAG_WIDTH, levels: Math.max(...levelOf) } : {}),
          max_depth: MAX_DEPTH,
          speculating,
          optimistic_proofs: false,
        },
        figures: {
          bonds_settled_ms: settledMs,
          rollback_ms: lastMs,
          bonds: bonded.length,
          bonds_settled_in_root_cascade: settledBy,
          settlement_transactions: cascadeTransactions,
          largest_sampled_history_events: Math.max(rootEvents, profile.largestHistory),
          ...(timings
            ? {
                cascade_read_ms: timings.readMs,
                cascade_join_ms: timings.joinMs,
                cascade_settle_ms: timings.settleMs,
                cascade_tell_ms: timings.tellMs,
              }
            : {}),
          root_final_after_ms: ms(rootState.timestamps.failed) - failedAt,
          submit_ms: submitMs,
          speculating_after_ms: speculatingMs,
          not_rolled_back_or_bond_locked: notRolledBack,
          integrity_problems: integrity.problems.length,
          root_history_events: rootEvents,
          largest_child_history_events: Math.max(0, ...childEvents),
          leaf_history_events: leafEvents,
          ...(sameRun
            ? { control_history_events_per_task: (controlAfter.historyLength - controlBefore.historyLength) / tasks }
            : {}),
          control_continued_as_new: sameRun ? 0 : 1,
          history_events_after_failure_per_task: profile.eventsPerTask,
          signal_ack_median_ms: profile.signalMedianMs,
          signal_ack_p90_ms: profile.signalP90Ms,
          signal_ack_max_ms: profile.signalMaxMs,
        },
        figure: { name: "root failure → last descendant's bond settled", value: settledMs, unit: 'ms' },
        baseline: { name: 'the same with 1 descendant', value: baselineMs, unit: 'ms' },
        ratio: settledMs / baselineMs,
        ratioMeaning: 'settling time / one-descendant settling time',
        ...(target ? { target: `≤ ${target / 1000} s`, met: settledMs <= target && notRolledBack === 0 } : {}),
        notes:
          `${states.length - notRolledBack}/${states.length} rolled back with bonds released, ${integrity.problems.length} integrity problem(s); ` +
          `${bonded.length} bond(s) settled ${settledMs} ms after the failure (${settledBy} in the root's cascade, ${cascadeTransactions} transaction(s)), the last task closed after ${lastMs} ms; ` +
          (timings
            ? `the cascade read the graph in ${timings.readMs} ms, had its members join in ${timings.joinMs} ms, settled in ${timings.settleMs} ms, told them in ${timings.tellMs} ms; `
            : 'no cascade ran; ') +
          `${speculating} speculating${refused ? ` (the rest past max_depth ${MAX_DEPTH} waited non-speculatively)` : ''}; ` +
          `history events: root ${rootEvents}, largest direct child ${Math.max(0, ...childEvents)}, last task ${leafEvents}; ` +
          `after the failure ${profile.eventsPerTask.toFixed(0)} events per task; a signal between workflows (${profile.signals} sampled) took ` +
          `${profile.signalMedianMs.toFixed(0)} ms median, ${profile.signalP90Ms.toFixed(0)} ms p90, ${profile.signalMaxMs.toFixed(0)} ms at most from command to acknowledgement; ` +
          (sameRun
            ? `speculation-control grew ${controlAfter.historyLength - controlBefore.historyLength} events (${((controlAfter.historyLength - controlBefore.historyLength) / tasks).toFixed(1)} per task)`
            : 'speculation-control continued as new during this shape'),
      });
      ctx.say(
        `  ${shape.kind} of ${shape.descendants}: submitted in ${submitMs} ms, speculating after ${speculatingMs} ms, bonds settled in ${settledMs} ms, all closed in ${lastMs} ms`,
      );
    }
  } finally {
    await sys.close();
  }
  if (memory) {
    const perTaskKb = (memory.rssActive - memory.rssBefore) / 1024 / memory.active;
    // Where it goes, per task: the JS heap (workflow contexts in the cache, the client, the chain's
    // accounts), memory outside it (buffers), and the rest of RSS (the SDK's Rust core: history caches).
    const kbPerTask = (key: 'heapUsed' | 'external') =>
      (memory!.during[key] - memory!.before[key]) / 1024 / memory!.active;
    const heapKb = kbPerTask('heapUsed');
    const externalKb = kbPerTask('external');
    ctx.record({
      key: 'memory.active_speculative',
      title: `worker memory with ${memory.active} active speculative tasks`,
      inputs: {
        active_speculative_tasks: memory.active,
        process: 'the bench process: the agenc-tasks and agenc-proofs workers and the submitting client',
      },
      figures: {
        rss_idle_mb: memory.rssBefore / 2 ** 20,
        rss_active_mb: memory.rssActive / 2 ** 20,
        kb_per_active_task: perTaskKb,
        heap_kb_per_active_task: heapKb,
        external_kb_per_active_task: externalKb,
      },
      figure: { name: 'RSS with the tree speculating', value: memory.rssActive / 2 ** 20, unit: 'MB' },
      baseline: { name: 'RSS before the tree was submitted', value: memory.rssBefore / 2 ** 20, unit: 'MB' },
      ratio: memory.rssActive / memory.rssBefore,
      ratioMeaning: 'active / before',
      target: '≤ 512 KB per active speculative task',
      met: perTaskKb <= 512,
      notes:
        `${perTaskKb.toFixed(0)} KB per active speculative task (RSS difference over the tree's speculating tasks; includes the workflow cache and the client's share): ` +
        `${heapKb.toFixed(0)} KB of it in the JS heap, ${externalKb.toFixed(0)} KB in buffers outside it, the rest (${(perTaskKb - heapKb - externalKb).toFixed(0)} KB) native (the SDK's core, allocator)`,
    });
  }
}
