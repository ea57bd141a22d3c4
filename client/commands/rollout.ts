/**
 * `agenc rollout start|status|pause|resume|approve|abort`: the runbook's feature-flag rollout as a
 * durable workflow (`rollout-<name>`), its phases as children (`rollout-<name>-phase-<n>`). `status`
 * reads Temporal; the writes go through the admin API (`POST /admin/rollout/<command>`) with the token.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import {
  type Decision,
  defaultPlan,
  type ObservedSignal,
  parsePlan,
  type PhaseEvidence,
  planSummary,
  ROLLOUT_NAME_PATTERN,
  type RolloutPlan,
  type RolloutStatus,
  rolloutWorkflowId,
} from '../../shared/rollout-model';
import { SA } from '../../shared/search-attributes';
import { TASK_QUEUE } from '../../shared/task-queues';
import { adminRequest } from '../admin';
import { CliError, emit, EXIT, type OutputOptions, table, withOutput } from '../output';
import type { AdminFactory, ClientFactory } from './context';
import type { rollout } from '../../workflows/rollout';
import { rolloutStatusQuery } from '../../shared/messages';

export function checkName(name: string): string {
  if (!ROLLOUT_NAME_PATTERN.test(name)) {
    throw new CliError(
      `rollout name "${name}" is not valid (letters, digits, _ . -, 1-48 characters, starting with a letter or digit; e.g. canary)`,
    );
  }
  return name;
}

/** Reads and validates a plan file; the error names the file and every field at fault. `raw`: the file's JSON. */
export function loadPlanFile(file?: string): { plan: RolloutPlan; source: string; raw?: unknown } {
  if (!file) return { plan: defaultPlan(), source: 'default plan (runbook table)' };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read plan file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CliError(`plan file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const result = parsePlan(raw);
  if (!result.ok) {
    throw new CliError(`plan file ${file} is invalid:\n  ${result.problems.join('\n  ')}`, EXIT.usage, {
      file,
      problems: result.problems,
    });
  }
  return { plan: result.plan, source: file, raw };
}

const human = (ms: number | null) => {
  if (ms === null) return 'ongoing';
  const units: [number, string][] = [
    [7 * 86_400_000, 'w'],
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
};

export function planText(name: string, plan: RolloutPlan): string {
  const t = plan.thresholds;
  return [
    planSummary(name, plan),
    table(
      plan.phases.map((p, i) => ({
        phase: i + 1,
        name: p.name,
        percentage: `${p.percentage}%`,
        duration:
          p.duration_ms === null || p.duration === human(p.duration_ms)
            ? p.duration
            : `${p.duration} (${human(p.duration_ms)})`,
        criteria: p.success_criteria ?? '',
      })),
      ['phase', 'name', 'percentage', 'duration', 'criteria'],
    ),
    `evaluation every ${human(plan.evaluation_interval_ms)} over the last ${human(plan.metric_window_ms)}; ` +
      `halt > ${t.halt_rollback_rate * 100}% rollback rate, pause ≥ ${t.pause_rollback_rate * 100}%, ` +
      `reduce branches at memory growth > ${t.memory_growth_per_hour * 100}%/h, pause at proof queue > ${t.proof_queue_utilisation * 100}%, ` +
      `P1 alert rolls back a phase; rates judged from ${t.min_sample} speculative tasks; ` +
      `a phase proceeds only on evidence (green on ${t.min_sample}+ speculative tasks, P1 alerts and memory observed), else it holds`,
  ].join('\n');
}

/** Starts `rollout-<name>`; a running rollout of that name is an error (its status says what it does). */
export async function startRollout(client: Client, name: string, plan: RolloutPlan) {
  try {
    return await client.workflow.start<typeof rollout>('rollout', {
      workflowId: rolloutWorkflowId(name),
      taskQueue: TASK_QUEUE,
      args: [{ name, plan }],
      staticSummary: planSummary(name, plan),
      staticDetails: planText(name, plan),
      typedSearchAttributes: [{ key: SA.rolloutName, value: name }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(
        `rollout "${name}" is already running: see \`agenc rollout status ${name}\` (or abort it first)`,
        EXIT.usage,
      );
    }
    throw err;
  }
}

export async function rolloutStatus(client: Client, name: string): Promise<RolloutStatus> {
  try {
    return await client.workflow.getHandle(rolloutWorkflowId(name)).query(rolloutStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(
        `no rollout named "${name}" (start one with \`agenc rollout start --name ${name}\`)`,
        EXIT.usage,
      );
    throw err;
  }
}

const decisionLine = (d: Decision) => {
  const r = d.readings;
  // A signal the source cannot observe reads "unknown", never a reassuring 0%/h or "none".
  const unseen = (s: ObservedSignal) => r?.unknown?.includes(s) ?? false;
  const numbers = r
    ? ` [tasks ${r.speculativeTasks}, rollbacks ${r.rollbacks}, rate ${(r.rollbackRate * 100).toFixed(1)}%, mem ${unseen('memory_growth') ? 'unknown' : `${(r.memoryGrowthPerHour * 100).toFixed(0)}%/h`}, queue ${unseen('proof_queue') ? 'unknown' : `${r.proofQueueDepth}/${r.proofQueueCapacity}`}, P1 ${unseen('p1_alerts') ? 'unknown' : r.p1Alerts.length ? r.p1Alerts.join(',') : 'none'}]`
    : '';
  return `${d.at}  phase ${d.phase}  ${d.action}: ${d.reason}${numbers}`;
};

const evidenceCell = (e: PhaseEvidence | undefined) =>
  !e ? '' : e.sufficient ? 'sufficient' : e.insufficient ? 'insufficient' : 'not green';

export function statusText(s: RolloutStatus, decisions = 10): string {
  const cur = s.current_phase ? s.phases[s.current_phase - 1] : undefined;
  const all = s.phases.flatMap((p) => p.decisions).sort((a, b) => a.at.localeCompare(b.at));
  const lacking =
    cur?.evidence?.insufficient && !cur.ended_at ? `: insufficient evidence: ${cur.evidence.missing.join('; ')}` : '';
  return [
    `${s.summary} — ${s.state}${cur ? `, phase ${cur.phase} ${cur.name} (${cur.percentage}%) ${cur.state}${lacking}` : ''}`,
    ...(s.waiting_for ? [`waiting for: ${s.waiting_for}`] : []),
    ...(s.abort_reason ? [`aborted: ${s.abort_reason}`] : []),
    table(
      s.phases.map((p) => ({
        phase: p.phase,
        name: p.name,
        percentage: `${p.percentage}%`,
        duration: p.duration,
        state: p.state,
        started: p.started_at,
        evaluations: p.evaluations,
        green_since: p.green_since,
        evidence: evidenceCell(p.evidence),
      })),
      ['phase', 'name', 'percentage', 'duration', 'state', 'started', 'evaluations', 'green_since', 'evidence'],
    ),
    all.length
      ? `last ${Math.min(decisions, all.length)} of ${all.length} decisions (--output json for all, with their numbers):`
      : 'no decisions yet',
    ...all.slice(-decisions).map(decisionLine),
  ].join('\n');
}

export function registerRolloutCommands(
  program: Command,
  clientFactory: ClientFactory,
  adminFactory: AdminFactory,
): void {
  const cmd = program
    .command('rollout')
    .description(
      "Feature-flag rollout phases (1% → 100%) run as durable workflows, with the runbook's decision matrix",
    );

  withOutput(
    cmd
      .command('start')
      .description(
        "Start rollout-<name> from a plan file (default: the runbook's table); --dry-run prints and validates the plan only",
      )
      .requiredOption('-n, --name <name>', 'rollout name, e.g. canary (workflow id rollout-<name>)')
      .option('-p, --plan <file>', 'plan file (JSON), e.g. config/rollout-plan.example.json')
      .option('--dry-run', 'validate and print the plan; start nothing'),
  ).action(async (opts: OutputOptions & { name: string; plan?: string; dryRun?: boolean }) => {
    const name = checkName(opts.name);
    const { plan, source, raw } = loadPlanFile(opts.plan);
    if (opts.dryRun) {
      emit(
        opts,
        { dry_run: true, valid: true, name, workflow_id: rolloutWorkflowId(name), plan_source: source, plan },
        () => `${planText(name, plan)}\n(dry run: plan from ${source} is valid; nothing started)`,
      );
      return;
    }
    // The worker validates the plan again and starts the workflow; no plan in the request: the runbook's.
    const { body } = await adminRequest<{ workflow_id: string; run_id: string }>(
      adminFactory(),
      'POST',
      '/admin/rollout/start',
      { name, ...(raw === undefined ? {} : { plan: raw }) },
    );
    emit(
      opts,
      { started: true, name, workflow_id: body.workflow_id, run_id: body.run_id, plan_source: source, plan },
      () =>
        `${planText(name, plan)}\nstarted ${body.workflow_id}; follow it with \`agenc rollout status ${name}\` or in the Temporal Web UI`,
    );
  });

  withOutput(
    cmd
      .command('status')
      .description('Phases with their state, the current phase, and every decision with the numbers behind it')
      .argument('<name>', 'rollout name'),
  ).action(async (name: string, opts: OutputOptions) => {
    const s = await rolloutStatus(await clientFactory(), checkName(name));
    emit(opts, s, () => statusText(s));
  });

  const signals = [
    ['pause', 'the current phase stops its green clock (monitoring goes on); no next phase starts'],
    ['resume', "resume from a pause or a halt (after a P1 roll-back the phase's percentage is re-applied)"],
    [
      'approve',
      "skip the rest of the current phase's window and proceed; or proceed from a halt, a pause or a hold for lack of evidence",
    ],
    ['abort', 'stop the rollout: rollout_percentage goes to 0'],
  ] as const;
  for (const [signal, description] of signals) {
    const sub = cmd.command(signal).description(description).argument('<name>', 'rollout name');
    if (signal === 'abort') sub.option('--reason <text>', "why (kept in the rollout's status)");
    withOutput(sub).action(async (name: string, opts: OutputOptions & { reason?: string }) => {
      // The worker refuses a rollout that has ended (409, exit 1) or does not exist (404, exit 2).
      const { body } = await adminRequest<{ signal: string; name: string; status: RolloutStatus }>(
        adminFactory(),
        'POST',
        `/admin/rollout/${signal}`,
        { name: checkName(name), ...(opts.reason === undefined ? {} : { reason: opts.reason }) },
      );
      emit(
        opts,
        { signal, name, status: body.status },
        () => `${signal} sent to rollout ${name}\n${statusText(body.status, 3)}`,
      );
    });
  }
}
