/**
 * `agenc admin deploy-program`: deploys the custody program (programs/custody, built by
 * `npm run build:program`) to the cluster at SOLANA_RPC_URL through the upgradeable loader, with the
 * key in `$AGENC_KEYS_DIR/custody-program.json` (made if missing), the protocol authority paying, then
 * creates the program's config for this authority. Idempotent. The embedded chain needs none of this:
 * its first stake operation deploys the program itself.
 */
import type { Command } from 'commander';
import type { CloseRecordsResult } from '../../shared/stake-records';
import { adminRequest } from '../admin';
import { CliError, EXIT, emit, withOutput, type OutputOptions } from '../output';
import type { AdminFactory } from './context';

export interface DeployProgramReport {
  cluster: string;
  program_id: string;
  config: string;
  authority: string;
  treasury: string;
  already_deployed: boolean;
  transactions: number;
  so_path: string;
}

export function registerProgramCommands(program: Command, adminFactory: AdminFactory): void {
  const admin = program.commands.find((c) => c.name() === 'admin') ?? program.command('admin');
  withOutput(
    admin
      .command('close-records')
      .description(
        "Close the commitment records of finished tasks once past the program's retention, returning their rent to the authority",
      )
      .option('--limit <n>', 'how many finished tasks to look at', '1000'),
  ).action(async (opts: OutputOptions & { limit: string }) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
      throw new CliError(`--limit "${opts.limit}" must be a whole number from 1 to 100000`, EXIT.usage);
    const { body: r } = await adminRequest<CloseRecordsResult>(adminFactory(), 'POST', '/admin/chain/close-records', {
      limit,
    });
    emit(
      opts,
      r,
      () =>
        `closed ${r.closed.length} record(s), ${r.lamports_returned} lamports of rent back to the authority; ` +
        `${r.retained} within retention, ${r.pending} not yet final, ${r.absent} without a record`,
    );
  });

  withOutput(
    admin
      .command('deploy-program')
      .description('Deploy the custody program to the cluster at SOLANA_RPC_URL and create its config (idempotent)')
      .option('--so <path>', 'the built program (default .data/programs/custody.so, or AGENC_CUSTODY_SO)'),
  ).action(async (opts: OutputOptions & { so?: string }) => {
    const url = process.env.SOLANA_RPC_URL;
    if (!url) {
      throw new CliError(
        'SOLANA_RPC_URL is not set: deploy-program deploys to a cluster. The embedded chain deploys the custody program ' +
          'itself on its first stake operation (npm start), so there is nothing to do for it',
        EXIT.usage,
      );
    }
    // The chain's libraries load for this one command, not at every CLI start.
    const { custodyOf, ensureConfig, openStakeDeps } = await import('../../activities/chain');
    const { deployCustody } = await import('../../activities/chain/custody/deployment');
    const deps = await openStakeDeps({ rpcUrl: url });
    try {
      const deployed = await deployCustody(deps, { soPath: opts.so }).catch((err: unknown) => {
        throw new CliError(`deploying the custody program to ${url} failed: ${(err as Error).message}`, EXIT.system);
      });
      const custody = await custodyOf(deps);
      const config = await ensureConfig(deps, custody);
      const report: DeployProgramReport = {
        cluster: url,
        program_id: deployed.programId.toBase58(),
        config: custody.config.toBase58(),
        authority: config.authority.toBase58(),
        treasury: config.treasury.toBase58(),
        already_deployed: deployed.alreadyDeployed,
        transactions: deployed.signatures.length,
        so_path: deployed.soPath,
      };
      emit(opts, report, () =>
        [
          deployed.alreadyDeployed
            ? `custody program ${report.program_id} is already deployed at ${url} with these bytes`
            : `custody program ${report.program_id} deployed to ${url} (${report.transactions} transactions)`,
          `config ${report.config}: authority ${report.authority}, treasury ${report.treasury}`,
          `workers find it by ${deps.keys.dir}/custody-program.json (or AGENC_CUSTODY_PROGRAM_ID=${report.program_id})`,
        ].join('\n'),
      );
    } finally {
      await deps.chain.close();
    }
  });
}
