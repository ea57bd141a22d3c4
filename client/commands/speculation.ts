/** `agenc speculation pause|resume|drain|force-rollback`: the control workflow's signals; `restore-control` brings it back. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { drainSignal, forceRollbackAllSignal, pauseSignal, resumeSignal } from '../../shared/messages';
import {
  ControlNotRunningError,
  controlHandle,
  controlStatus,
  ensureControl,
  startControlFromFile,
  statusBody,
} from '../../temporal/control';
import { CliError, emit, EXIT, type OutputOptions, withOutput } from '../output';
import type { ClientFactory } from './context';

export function registerSpeculationCommands(program: Command, clientFactory: ClientFactory): void {
  const speculation = program
    .command('speculation')
    .description('Switch speculation off and on without changing the configuration file');
  const signals = [
    ['pause', pauseSignal, 'no new speculation until resume; running tasks go on'],
    ['resume', resumeSignal, 'clear pause and drain'],
    [
      'drain',
      drainSignal,
      'no new speculation; active speculative tasks finish (see also POST /admin/speculation/drain)',
    ],
    ['force-rollback', forceRollbackAllSignal, 'every active speculative task rolls back through its compensations'],
  ] as const;
  for (const [name, signal, description] of signals) {
    withOutput(speculation.command(name).description(description)).action(async (opts: OutputOptions) => {
      const client = await clientFactory();
      await controlHandle(client).signal(signal);
      const body = statusBody(await controlStatus(client));
      emit(
        opts,
        { signal: name, ...body },
        () =>
          `${name} sent; active speculative tasks: ${body.speculation.active_tasks}, paused: ${body.speculation.paused}, draining: ${body.speculation.draining}`,
      );
    });
  }

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
    const client = await clientFactory();
    let outcome: string;
    if (opts.fromConfig) {
      outcome = await startControlFromFile(client, loadConfig({ file: opts.fromConfig }).raw);
    } else {
      try {
        // The file is read only for a first start ever; a closed run is restored from its own state.
        outcome = (await ensureControl(client, loadConfig().raw)).outcome;
      } catch (err) {
        if (err instanceof ControlNotRunningError) throw new CliError(err.message, EXIT.system);
        throw err;
      }
    }
    const body = statusBody(await controlStatus(client));
    const said: Record<string, string> = {
      running: 'speculation-control is running; nothing to restore',
      started: 'speculation-control started',
      restored: 'speculation-control restored from its last state',
    };
    emit(
      opts,
      { outcome, ...body },
      () =>
        `${said[outcome]}; paused: ${body.speculation.paused}, draining: ${body.speculation.draining}, rollout: ${body.speculation.rollout_percentage}%`,
    );
  });
}
