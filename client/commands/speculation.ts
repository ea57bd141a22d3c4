/** `agenc speculation pause|resume|drain|force-rollback`: the control workflow's signals. */
import type { Command } from 'commander';
import { drainSignal, forceRollbackAllSignal, pauseSignal, resumeSignal } from '../../shared/messages';
import { controlHandle, controlStatus, statusBody } from '../../temporal/control';
import { emit, type OutputOptions, withOutput } from '../output';
import type { ClientFactory } from './context';

export function registerSpeculationCommands(program: Command, clientFactory: ClientFactory): void {
  const speculation = program.command('speculation').description('Switch speculation off and on without changing the configuration file');
  const signals = [
    ['pause', pauseSignal, 'no new speculation until resume; running tasks go on'],
    ['resume', resumeSignal, 'clear pause and drain'],
    ['drain', drainSignal, 'no new speculation; active speculative tasks finish (see also POST /admin/speculation/drain)'],
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
}
