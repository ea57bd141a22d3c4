/**
 * 5. The control workflow's ceiling. Every admission and every speculation decision goes to the
 * singleton `speculation-control`, batched per process (`admitTasks` / `admitSpeculations` Updates, see
 * temporal/control.ts). N concurrent clients each play tasks through their control-side life as the
 * real paths do: admitTask, admitSpeculation, then
 * the `speculationEnded` and `taskClosed` signals a task sends when it is final (so the state the
 * workflow carries stays the size of a live system's, not of the whole run). Two decisions per task.
 * Measured per concurrency: decisions/s, history events per decision, continue-as-new. Baseline = one
 * client (one decision at a time: the round-trip bound), in the same run.
 */
import { admitSpeculation, admitTask, controlHandle } from '../temporal/control';
import { CONTROL_WORKFLOW_ID, speculationEndedSignal, taskClosedSignal } from '../shared/messages';
import { benchConfig, type BenchContext, type BenchSystem } from './harness';

interface Level {
  clients: number;
  decisions: number;
  errors: number;
  seconds: number;
  eventsPerDecision: number;
  continuedAsNew: number;
}

async function runs(sys: BenchSystem): Promise<Array<{ runId: string; historyLength: number; status: string }>> {
  const out: Array<{ runId: string; historyLength: number; status: string }> = [];
  for await (const wf of sys.client.workflow.list({ query: `WorkflowId="${CONTROL_WORKFLOW_ID}"` }))
    out.push({ runId: wf.runId, historyLength: wf.historyLength, status: wf.status.name });
  return out;
}

async function drive(sys: BenchSystem, clients: number, seconds: number, tag: string): Promise<Level> {
  const control = controlHandle(sys.client);
  const before = await control.describe();
  const runsBefore = (await runs(sys)).length;
  let decisions = 0;
  let errors = 0;
  const deadline = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const taskId = `ctl-${tag}-${c}-${i}`;
        try {
          // The real paths: concurrent requests from one process coalesce into batched Updates.
          await admitTask(sys.client, taskId);
          await admitSpeculation(sys.client, {
            taskId,
            parentTaskId: `${taskId}-parent`,
            agent: 'bench',
            parentAgent: 'bench',
            depth: 1,
            workerMemoryMb: 100,
          });
          decisions += 2;
          await control.signal(speculationEndedSignal, { taskId, outcome: 'confirmed' });
          await control.signal(taskClosedSignal, { taskId, status: 'confirmed' });
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (Date.now() - t0) / 1000;
  const after = await control.describe();
  const allRuns = await runs(sys);
  const continuedAsNew = allRuns.length - runsBefore;
  // Across a continue-as-new the history restarts: count what the old runs grew by, plus the new run.
  const grown = continuedAsNew
    ? allRuns
        .filter((r) => r.status === 'CONTINUED_AS_NEW')
        .reduce(
          (sum, r) => sum + (r.runId === before.runId ? r.historyLength - before.historyLength : r.historyLength),
          0,
        ) + (after.runId === before.runId ? 0 : after.historyLength)
    : after.historyLength - before.historyLength;
  return {
    clients,
    decisions,
    errors,
    seconds: elapsed,
    eventsPerDecision: grown / Math.max(1, decisions),
    continuedAsNew,
  };
}

export async function benchControl(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 1 : 10;
  const concurrency = ctx.quick ? [1, 8] : [1, 4, 16, 64];
  const sys = await ctx.system('control', {
    config: benchConfig({ speculation: { limits: { max_state_snapshots: 1_000_000 } } }),
  });
  const levels: Level[] = [];
  try {
    await drive(sys, 1, 1, 'warm');
    for (const clients of concurrency) {
      const level = await drive(sys, clients, seconds, `c${clients}`);
      levels.push(level);
      ctx.say(
        `  ${clients} client(s): ${(level.decisions / level.seconds).toFixed(0)} decisions/s, ${level.eventsPerDecision.toFixed(1)} events/decision, ${level.continuedAsNew} continue-as-new, ${level.errors} error(s)`,
      );
    }
    const closedRuns = (await runs(sys)).filter((r) => r.status === 'CONTINUED_AS_NEW');
    const rate = (l: Level) => l.decisions / l.seconds;
    const single = levels[0]!;
    const peak = levels.reduce((a, b) => (rate(b) > rate(a) ? b : a));
    ctx.record({
      key: 'control.ceiling',
      title: 'speculation-control decisions/s (admitTask + admitSpeculation Updates)',
      inputs: {
        clients: concurrency.join('/'),
        seconds_per_level: seconds,
        decisions_per_task: 2,
        worker: 'one, in the bench process',
      },
      figures: {
        ...Object.fromEntries(
          levels.flatMap((l) => [
            [`decisions_per_s_c${l.clients}`, rate(l)],
            [`events_per_decision_c${l.clients}`, l.eventsPerDecision],
            [`errors_c${l.clients}`, l.errors],
          ]),
        ),
        peak_decisions_per_s: rate(peak),
        peak_clients: peak.clients,
        single_client_decisions_per_s: rate(single),
        bottleneck_tasks_per_s: rate(peak) / 2,
        continued_as_new: levels.reduce((s, l) => s + l.continuedAsNew, 0),
        ...(closedRuns.length
          ? { history_events_at_continue_as_new: Math.max(...closedRuns.map((r) => r.historyLength)) }
          : {}),
      },
      figure: { name: 'peak decisions/s', value: rate(peak), unit: '/s' },
      baseline: { name: 'one client, one decision at a time', value: rate(single), unit: '/s' },
      ratio: rate(peak) / rate(single),
      ratioMeaning: 'peak / one client',
      notes:
        `${levels.map((l) => `${l.clients} client(s): ${rate(l).toFixed(0)}/s, ${l.eventsPerDecision.toFixed(1)} events/decision, ${l.errors} error(s)`).join('; ')}; ` +
        `peak at ${peak.clients} concurrent clients; a speculative task needs 2 decisions, so the singleton becomes the bottleneck above about ` +
        `${(rate(peak) / 2).toFixed(0)} task submissions/s; events per decision include the two closing signals per task; ` +
        (closedRuns.length
          ? `it continued as new ${closedRuns.length} time(s), at up to ${Math.max(...closedRuns.map((r) => r.historyLength))} events (the server's suggestion)`
          : "it did not continue as new in this run (the history stayed below the server's suggestion)"),
    });
  } finally {
    await sys.close();
  }
}
