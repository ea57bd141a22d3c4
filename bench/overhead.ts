/**
 * 2. Orchestration overhead per speculative hop: on a chain whose tasks do no work (`work_ms` 0), the
 * time from the parent's result (its `executeTask` completed) to the dependent's own result is all
 * ours and Temporal's: the parent's signal to the dependent, the `admitSpeculation` Update to
 * `speculation-control` (inside its activity), the bond's transaction, the execution activity's round
 * trip, and the workflow tasks in between. Proofs and finality are off this path; optimistic proofs are
 * off here so that no proof competes for the cores while the hops run (proofs are measured on their own).
 * The root alone works while the chain is submitted. Every figure comes from the event times Temporal recorded in the workflows' histories. Baseline:
 * Temporal's own floor for a hop on the same server in the same run (bench/floor-workflows.ts: a
 * signal, one activity that does nothing, the next signal), with one activity round trip, one local
 * activity and one query round trip beside it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';

import type { Client } from '@temporalio/client';
import { floorGoSignal } from './floor-workflows';
import { controlHandle } from '../temporal/control';
import { controlStatusQuery } from '../shared/messages';
import { taskWorkflowId } from '../shared/task-model';
import { benchConfig, type BenchContext, type BenchSystem, quantile } from './harness';

const AGENT = 'bench';
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const at = (e: HistoryEvent) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;

async function history(sys: BenchSystem, taskId: string): Promise<HistoryEvent[]> {
  return (await sys.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory()).events ?? [];
}

/** Activities in a history: type, scheduled, started, completed (ms). */
function activities(events: HistoryEvent[]) {
  const byId = new Map<string, { type: string; scheduled: number; started?: number; completed?: number }>();
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) byId.set(String(e.eventId), { type: s.activityType?.name ?? '?', scheduled: at(e) });
    const st = e.activityTaskStartedEventAttributes;
    if (st) byId.get(String(st.scheduledEventId))!.started = at(e);
    const c = e.activityTaskCompletedEventAttributes;
    if (c) byId.get(String(c.scheduledEventId))!.completed = at(e);
  }
  return [...byId.values()];
}

/** Every event of one hop, parent's and dependent's, as `+ms who:EventType` from the parent's result. */
function hopTimeline(parent: HistoryEvent[], dependent: HistoryEvent[], start: number, end: number): string {
  const name = (e: HistoryEvent) =>
    String(temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? e.eventType)
      .replace(/^EVENT_TYPE_/, '')
      .toLowerCase();
  const within = (who: string, events: HistoryEvent[]) =>
    events.filter((e) => at(e) >= start && at(e) <= end).map((e) => ({ t: at(e) - start, what: `${who}:${name(e)}` }));
  return [...within('parent', parent), ...within('dependent', dependent)]
    .sort((a, b) => a.t - b.t)
    .map((e) => `+${e.t.toFixed(0)} ${e.what}`)
    .join(', ');
}

const FLOOR_QUEUE = 'bench-floor';

/** Temporal's floor on this server: ms per minimal hop, per activity round trip, per local activity. */
async function measureFloor(
  client: Client,
  address: string,
  hops: number,
): Promise<{ hopMs: number; activityMs: number; localActivityMs: number; timeline: string }> {
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: client.options.namespace,
    taskQueue: FLOOR_QUEUE,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: require.resolve('./floor-workflows'),
      logger: new DefaultLogger('WARN'),
    }),
    activities: { floorStep: async () => undefined },
  });
  try {
    return await worker.runUntil(async () => {
      const run = `floor-${Date.now()}`;
      const timed = async (f: () => Promise<unknown>) => {
        const t = performance.now();
        await f();
        return performance.now() - t;
      };
      const steps = async (n: number, useLocal: boolean, id: string) =>
        client.workflow.execute('floorSteps', {
          taskQueue: FLOOR_QUEUE,
          workflowId: `${run}-${id}`,
          args: [n, useLocal],
        });
      await steps(3, false, 'warm-remote');
      await steps(3, true, 'warm-local');
      const n = 4 * hops;
      const activityMs = (await timed(() => steps(n, false, 'remote'))) / n;
      const localActivityMs = (await timed(() => steps(n, true, 'local'))) / n;
      // The chain is started and waiting before the first signal, as the speculative chain is.
      const ids = Array.from({ length: hops + 1 }, (_, i) => `${run}-hop-${i}`);
      const handles = await Promise.all(
        ids.map((id, i) =>
          client.workflow.start('floorHop', { taskQueue: FLOOR_QUEUE, workflowId: id, args: [ids[i + 1] ?? null] }),
        ),
      );
      const hopMs =
        (await timed(async () => {
          await handles[0]!.signal(floorGoSignal);
          await handles[hops]!.result();
        })) /
        (hops + 1);
      // One hop of the floor, event by event, from the signal that starts it: the same server's own pace.
      const events = (await handles[1]!.fetchHistory()).events ?? [];
      const signaled = events.find((e) => e.workflowExecutionSignaledEventAttributes);
      const timeline = signaled ? hopTimeline([], events, at(signaled), Math.max(...events.map(at))) : 'none';
      return { hopMs, activityMs, localActivityMs, timeline };
    });
  } finally {
    await connection.close();
  }
}

export async function benchOverhead(ctx: BenchContext): Promise<void> {
  const hops = ctx.quick ? 4 : 20;
  const sys = await ctx.system('overhead', {
    config: benchConfig({ speculation: { max_depth: 20, features: { enable_optimistic_proofs: false } } }),
    worker: { embeddedFinalityMs: 0 },
  });
  try {
    await sys.fund(AGENT);
    await sys.result(await sys.submit({ type: 'compute', payload: { value: 1 }, agent: AGENT })); // warm-up
    const queryMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await controlHandle(sys.client).query(controlStatusQuery);
      queryMs.push(performance.now() - t);
    }
    // The root works long enough for the whole chain to be submitted and waiting, so no hop includes a submission.
    const chain = [
      await sys.submit({ type: 'compute', payload: { value: 2, work_ms: Math.max(3000, hops * 500) }, agent: AGENT }),
    ];
    for (let i = 0; i < hops; i++)
      chain.push(await sys.submit({ type: 'compute', payload: { value: 3 + i }, dependsOn: chain[i], agent: AGENT }));
    // The worker's event loop while the hops run: a blocked loop delays every workflow task it would poll or answer.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const states = await Promise.all(chain.map((id) => sys.result(id)));
    loop.disable();
    const bad = states.filter((s) => s.status !== 'confirmed');
    if (bad.length) throw new Error(`overhead: ${bad.length} task(s) did not confirm`);
    const histories = await Promise.all(chain.map((id) => history(sys, id)));
    const executedAt = histories.map((h) => activities(h).find((a) => a.type === 'executeTask')!.completed!);

    const hopMs: number[] = [];
    const timelines: string[] = [];
    const parts = new Map<string, number[]>();
    const add = (name: string, v: number) => parts.set(name, [...(parts.get(name) ?? []), v]);
    for (let k = 1; k < chain.length; k++) {
      if (states[k]!.speculation_status !== 'speculative') continue;
      const start = executedAt[k - 1]!;
      const end = executedAt[k]!;
      const signaled = histories[k]!.find(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'parentExecuted',
      );
      const inWindow = activities(histories[k]!).filter((a) => a.scheduled >= start && a.scheduled <= end);
      hopMs.push(end - start);
      const signal = signaled ? at(signaled) - start : 0;
      add('parent result → signal recorded at the dependent', signal);
      let accounted = signal;
      for (const a of inWindow) {
        add(`${a.type}: waiting in the task queue`, a.started! - a.scheduled);
        add(`${a.type}: running`, a.completed! - a.started!);
        accounted += a.completed! - a.scheduled;
      }
      add('workflow tasks between steps (our workflow code, history writes)', end - start - accounted);
      timelines.push(hopTimeline(histories[k - 1]!, histories[k]!, start, end));
    }
    const median = quantile(hopMs, 0.5);
    // The profile: every event of the hop closest to the median, the parent's then the dependent's.
    const medianHop = hopMs.indexOf([...hopMs].sort((a, b) => Math.abs(a - median) - Math.abs(b - median))[0]!);
    const queryMedian = quantile(queryMs, 0.5);
    const floor = await measureFloor(sys.client, sys.address, hops);
    ctx.say(
      `    Temporal's floor here: ${floor.hopMs.toFixed(1)} ms per minimal hop, ${floor.activityMs.toFixed(1)} ms per activity round trip, ` +
        `${floor.localActivityMs.toFixed(1)} ms per local activity, ${queryMedian.toFixed(1)} ms per query`,
    );
    const breakdown = [...parts].map(([name, v]) => [name, quantile(v, 0.5)] as const).sort((a, b) => b[1] - a[1]);
    for (const [name, v] of breakdown) ctx.say(`    ${v.toFixed(1).padStart(7)} ms  ${name}`);
    const slug = (s: string) =>
      s
        .replace(/[^a-zA-Z0-9]+/g, '_')
        .replace(/^_|_$/g, '')
        .toLowerCase();
    ctx.record({
      key: 'overhead.hop',
      title: 'orchestration overhead per speculative hop',
      inputs: {
        hops: hopMs.length,
        work_ms: 0,
        root_work_ms: Math.max(3000, hops * 500),
        optimistic_proofs: false,
        server: 'temporal dev server (SQLite)',
      },
      figures: {
        median_ms: median,
        p95_ms: quantile(hopMs, 0.95),
        query_round_trip_ms: queryMedian,
        event_loop_delay_p50_ms: loop.percentile(50) / 1e6,
        event_loop_delay_p99_ms: loop.percentile(99) / 1e6,
        event_loop_delay_max_ms: loop.max / 1e6,
        floor_hop_ms: floor.hopMs,
        floor_activity_round_trip_ms: floor.activityMs,
        floor_local_activity_ms: floor.localActivityMs,
        ...Object.fromEntries(breakdown.map(([name, v]) => [`median_ms_${slug(name)}`, v])),
      },
      figure: { name: 'median hop overhead', value: median, unit: 'ms' },
      baseline: { name: "Temporal's minimal hop (signal, one empty activity, signal)", value: floor.hopMs, unit: 'ms' },
      ratio: median / floor.hopMs,
      ratioMeaning: 'hop overhead / minimal hop',
      target: "≤ 1.3× Temporal's minimal hop",
      met: median / floor.hopMs <= 1.3,
      notes:
        `median per part (they need not add up to the median hop): ${breakdown.map(([n, v]) => `${n} ${v.toFixed(0)} ms`).join('; ')}; ` +
        `Temporal's floor on this server: ${floor.activityMs.toFixed(1)} ms per activity round trip, ${floor.localActivityMs.toFixed(1)} ms per local activity, ` +
        `${queryMedian.toFixed(1)} ms per query round trip; the worker's event loop was late by ${(loop.percentile(50) / 1e6).toFixed(1)} ms ` +
        `p50, ${(loop.percentile(99) / 1e6).toFixed(1)} ms p99, ${(loop.max / 1e6).toFixed(1)} ms at most while the chain ran; the hop nearest the median, event by event (ms from the parent's result): ` +
        `${timelines[medianHop] ?? 'none'}; a hop of Temporal's floor, from its signal: ${floor.timeline}`,
    });
  } finally {
    await sys.close();
  }
}
