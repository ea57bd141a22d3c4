/** `agenc proof-worker status`: who proves, what waits, how long proofs take now (read from Temporal). */
import type { Command } from 'commander';
import { emit, type OutputOptions, parsePositiveNumber, table, withOutput } from '../output';
import { proofWorkerStatus } from '../triage';
import type { ClientFactory } from './context';

export function registerProofWorkerCommands(program: Command, clientFactory: ClientFactory): void {
  const proofWorker = program.command('proof-worker').description('The proof workers on agenc-proofs');
  withOutput(
    proofWorker
      .command('status')
      .description(
        'Proof workers polling agenc-proofs, the proof backlog and its oldest wait, and the proof times of the latest confirmed tasks',
      )
      .option('--recent <n>', 'how many recently confirmed tasks to read proof times from', '20'),
  ).action(async (opts: OutputOptions & { recent: string }) => {
    const s = await proofWorkerStatus(await clientFactory(), { recent: parsePositiveNumber('--recent', opts.recent) });
    emit(opts, s, () =>
      [
        `proof workers polling agenc-proofs: ${s.workers.length}${s.workers.length ? '' : ' (none: proofs wait until one starts)'}`,
        ...s.workers.map((w) => `  ${w.identity} (last poll ${w.last_poll ?? 'unknown'})`),
        `backlog: ${s.backlog} proof(s) waiting${s.oldest_waiting_ms !== null ? `, the oldest for ${Math.round(s.oldest_waiting_ms / 1000)} s` : ''}`,
        s.recent.length
          ? `recent proofs (${s.recent.length}): median ${s.recent_p50_ms} ms, slowest ${s.recent_max_ms} ms`
          : 'recent proofs: none confirmed yet',
        ...(s.recent.length ? [table(s.recent.slice(0, 10), ['task_id', 'proof_ms', 'confirmed'])] : []),
      ].join('\n'),
    );
  });
}
