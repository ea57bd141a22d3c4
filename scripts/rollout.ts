/**
 * Client script: start a rollout from a plan file and print its phase progress until it ends (or
 * Ctrl-C, which stops watching only: the rollout is a durable workflow and goes on).
 *
 *   npx tsx scripts/rollout.ts --name canary [--plan config/rollout-plan.example.json] [--attach] [--every 5s]
 *
 * --attach watches a rollout that is already running instead of starting one. The start is an operator
 * write: it goes through the worker's admin API with the token, as `agenc rollout start` does
 * (AGENC_ADMIN_URL, ADMIN_TOKEN or npm start's .data/admin-token); watching reads Temporal. Exit code: 0
 * when the rollout completed, 1 when it was aborted, 2 on bad arguments, plan or token, 3 when Temporal
 * or the admin API is unreachable.
 */
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { connectClient } from '../temporal/connection';
import { adminRequest, resolveAdmin } from '../client/admin';
import { checkName, loadPlanFile, planText, rolloutStatus } from '../client/commands/rollout';
import { CliError } from '../client/output';
import type { Duration } from '@temporalio/common';
import { type Decision, parseDuration, type RolloutStatus } from '../shared/rollout-model';

function decisionLine(d: Decision): string {
  const r = d.readings;
  const numbers = r
    ? ` (tasks ${r.speculativeTasks}, rollbacks ${r.rollbacks}, rate ${(r.rollbackRate * 100).toFixed(1)}%, queue ${r.proofQueueDepth}/${r.proofQueueCapacity}, mem ${(r.memoryGrowthPerHour * 100).toFixed(0)}%/h${r.p1Alerts.length ? `, P1 ${r.p1Alerts.join(',')}` : ''})`
    : '';
  return `  ${d.at}  phase ${d.phase}  ${d.action}: ${d.reason}${numbers}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', short: 'n' },
      plan: { type: 'string', short: 'p' },
      attach: { type: 'boolean' },
      every: { type: 'string', default: '5s' },
    },
  });
  if (!values.name) throw new CliError('--name is required (e.g. --name canary)');
  const name = checkName(values.name);
  const everyMs = parseDuration(values.every as Duration);
  if (!Number.isFinite(everyMs) || everyMs < 200)
    throw new CliError(`--every ${values.every} is not a duration of at least 200ms (e.g. 5s)`);

  const client = await connectClient();
  try {
    if (!values.attach) {
      const { plan, source, raw } = loadPlanFile(values.plan);
      process.stdout.write(`${planText(name, plan)}\n(plan from ${source})\n`);
      const { body } = await adminRequest<{ workflow_id: string }>(resolveAdmin({}), 'POST', '/admin/rollout/start', {
        name,
        ...(raw === undefined ? {} : { plan: raw }),
      });
      process.stdout.write(`started ${body.workflow_id}\n`);
    }
    let stop = false;
    process.once('SIGINT', () => {
      stop = true;
      process.stdout.write(`\nstopped watching; rollout ${name} goes on (agenc rollout status|pause|abort ${name})\n`);
    });
    const seen = new Set<string>();
    let lastHeadline = '';
    let last: RolloutStatus | undefined;
    while (!stop) {
      try {
        last = await rolloutStatus(client, name);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new CliError(`no rollout named ${name}`);
        throw err;
      }
      const cur = last.current_phase ? last.phases[last.current_phase - 1] : undefined;
      const headline = `[${last.state}] ${cur ? `phase ${cur.phase}/${last.phases.length} ${cur.name} ${cur.percentage}%: ${cur.state}` : 'no phase yet'}${last.waiting_for ? ` — waiting for ${last.waiting_for}` : ''}`;
      if (headline !== lastHeadline) process.stdout.write(`${new Date().toISOString()} ${headline}\n`);
      lastHeadline = headline;
      for (const d of last.phases.flatMap((p) => p.decisions)) {
        const key = `${d.phase}|${d.at}|${d.action}`;
        if (!seen.has(key)) {
          seen.add(key);
          process.stdout.write(`${decisionLine(d)}\n`);
        }
      }
      if (last.state === 'completed' || last.state === 'aborted') {
        process.stdout.write(`rollout ${name} ${last.state}${last.abort_reason ? `: ${last.abort_reason}` : ''}\n`);
        return last.state === 'completed' ? 0 : 1;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
    return 0;
  } finally {
    await client.connection.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`rollout: ${(err as Error).message}\n`);
    process.exit(err instanceof CliError ? err.exitCode : 3);
  },
);
