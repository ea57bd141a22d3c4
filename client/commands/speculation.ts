/**
 * `agenc speculation pause|resume|drain|force-rollback|enable|restore-control`: writes to the control
 * workflow, each through the worker's admin API (`POST /admin/speculation/<command>`) with the token.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import type { statusBody } from '../../temporal/control';
import { adminRequest } from '../admin';
import { emit, type OutputOptions, parsePositiveNumber, table, withOutput } from '../output';
import type { AdminFactory, ClientFactory } from './context';
import { durationArgument, recentRollbacks, stuckTasks } from '../triage';
import { rethrowAsUsageError } from './task';

type StatusBody = ReturnType<typeof statusBody>;

export function registerSpeculationCommands(
  program: Command,
  clientFactory: ClientFactory,
  adminFactory: AdminFactory,
): void {
  const speculation = program
    .command('speculation')
    .description(
      'Switch speculation off and on without changing the configuration file; triage: stuck tasks, recent rollbacks',
    );

  withOutput(
    speculation
      .command('stuck')
      .description(
        'Tasks in a non-final status for longer than --older-than, longest first, with what each waits for (read from Temporal)',
      )
      .option('--older-than <duration>', 'in its current status for at least this long (90s, 10m, 1h)', '10m')
      .option('--limit <n>', 'at most this many tasks', '100'),
  ).action(async (opts: OutputOptions & { olderThan: string; limit: string }) => {
    const rows = await (async () =>
      stuckTasks(await clientFactory(), {
        olderThanMs: durationArgument('older-than', opts.olderThan),
        limit: parsePositiveNumber('--limit', opts.limit),
      }))().catch(rethrowAsUsageError);
    emit(opts, rows, () =>
      rows.length
        ? table(
            rows.map((r) => ({ ...r, for: `${Math.round(r.for_ms / 1000)}s` })),
            ['task_id', 'status', 'for', 'speculation_status', 'agent', 'waiting_for'],
          )
        : `no task has been in a non-final status for ${opts.olderThan} or more`,
    );
  });

  withOutput(
    speculation
      .command('rollbacks')
      .description(
        'Tasks that rolled back or failed recently, newest first: reason, depth, bond outcome and what caused each',
      )
      .option('--since <duration>', 'closed within this long (10m, 1h, 24h)', '1h')
      .option('--reason <reason>', 'only this rollback reason (parent_failed, proof_failed, forced, ...)')
      .option('--limit <n>', 'at most this many tasks', '100'),
  ).action(async (opts: OutputOptions & { since: string; reason?: string; limit: string }) => {
    const rows = await (async () =>
      recentRollbacks(await clientFactory(), {
        sinceMs: durationArgument('since', opts.since),
        reason: opts.reason,
        limit: parsePositiveNumber('--limit', opts.limit),
      }))().catch(rethrowAsUsageError);
    emit(opts, rows, () =>
      rows.length
        ? table(
            rows.map((r) => ({ ...r })),
            ['task_id', 'status', 'reason', 'depth', 'bond', 'caused_by', 'agent', 'closed'],
          )
        : `no task rolled back or failed in the last ${opts.since}${opts.reason ? ` for ${opts.reason}` : ''}`,
    );
  });
  // drain and force-rollback return at once (timeout_ms=0): the admin API answers 504 while
  // speculative tasks are still active, which here is the expected answer, not a failure.
  const signals = [
    ['pause', 'no new speculation until resume; running tasks go on', ''],
    ['resume', 'clear pause and drain', ''],
    [
      'drain',
      'no new speculation; active speculative tasks finish (returns at once; POST /admin/speculation/drain waits)',
      '?timeout_ms=0',
    ],
    [
      'force-rollback',
      'every active speculative task rolls back through its compensations (returns at once)',
      '?timeout_ms=0',
    ],
  ] as const;
  for (const [name, description, query] of signals) {
    withOutput(speculation.command(name).description(description)).action(async (opts: OutputOptions) => {
      const { body } = await adminRequest<StatusBody>(
        adminFactory(),
        'POST',
        `/admin/speculation/${name}${query}`,
        undefined,
        {
          accept: query ? [504] : [],
        },
      );
      const speculation = body.speculation;
      emit(
        opts,
        { signal: name, speculation },
        () =>
          `${name} sent; active speculative tasks: ${speculation.active_tasks}, paused: ${speculation.paused}, draining: ${speculation.draining}`,
      );
    });
  }

  withOutput(
    speculation
      .command('enable')
      .description(
        'Re-enable speculation after the circuit breaker switched it off (POST /admin/speculation/enable); ' +
          'before its cooldown has passed only with --force',
      )
      .requiredOption('--reason <text>', 'why it is safe to speculate again (logged)')
      .option('--force', 're-enable now, before the cooldown has passed'),
  ).action(async (opts: OutputOptions & { reason: string; force?: boolean }) => {
    const { body } = await adminRequest<StatusBody & { outcome: 'armed' | 'enabled' }>(
      adminFactory(),
      'POST',
      '/admin/speculation/enable',
      { reason: opts.reason, ...(opts.force ? { force: true } : {}) },
    );
    emit(opts, body, () =>
      body.outcome === 'armed'
        ? 'the circuit breaker is armed: speculation was not switched off; nothing to do'
        : `speculation re-enabled (circuit breaker re-armed); active speculative tasks: ${body.speculation.active_tasks}`,
    );
  });

  withOutput(
    speculation
      .command('restore-control')
      .description(
        'Bring back the speculation-control workflow after it closed (terminated, failed): from its own last state ' +
          '(live configuration, pause/drain, cooldowns, admitted and active tasks); a running one is left alone',
      )
      .option(
        '--from-config <file>',
        'start it from this configuration file instead, when its last state cannot be read (live changes are lost)',
      ),
  ).action(async (opts: OutputOptions & { fromConfig?: string }) => {
    // The file is read (and checked) here; the worker starts control from what it holds.
    const request = opts.fromConfig ? { config: loadConfig({ file: opts.fromConfig }).raw } : {};
    const { body } = await adminRequest<StatusBody & { outcome: string }>(
      adminFactory(),
      'POST',
      '/admin/speculation/restore-control',
      request,
    );
    const { outcome, speculation } = body;
    const said: Record<string, string> = {
      running: 'speculation-control is running; nothing to restore',
      started: 'speculation-control started',
      restored: 'speculation-control restored from its last state',
    };
    emit(
      opts,
      { outcome, speculation },
      () =>
        `${said[outcome] ?? outcome}; paused: ${speculation.paused}, draining: ${speculation.draining}, rollout: ${speculation.rollout_percentage}%`,
    );
  });
}
