/**
 * `agenc`: the operators' command line. Every command takes `--output json`; `agenc <command> --help`
 * explains each. Reads from Temporal at TEMPORAL_ADDRESS (default 127.0.0.1:7233); every operator write
 * goes through the worker's admin API with its token (client/admin.ts).
 */
import { Command, CommanderError } from 'commander';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { version } from '../package.json';
import { type AdminOptions, DEFAULT_ADMIN_URL, resolveAdmin } from './admin';
import { connectClient } from '../temporal/connection';
import { registerConfigCommands } from './commands/config';
import { registerOperatorCommands } from './commands/operator';
import { registerProgramCommands } from './commands/program';
import { registerProofCommands } from './commands/proof';
import { registerProofWorkerCommands } from './commands/proof-worker';
import { registerRolloutCommands } from './commands/rollout';
import { registerSpeculationCommands } from './commands/speculation';
import { registerTaskCommands } from './commands/task';
import { CliError, EXIT } from './output';

export function buildProgram(): { program: Command; close(): Promise<void> } {
  let client: Promise<Client> | undefined;
  const program = new Command('agenc')
    .description(
      'AgenC Speculate: speculative execution of agent tasks on Temporal, bonded on Solana, proven with Groth16',
    )
    .version(version, '-V, --version')
    .option('--address <host:port>', 'Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (default $TEMPORAL_NAMESPACE or default)')
    .option(
      '--admin-url <url>',
      `the worker's admin API, which every write goes through (default $AGENC_ADMIN_URL or ${DEFAULT_ADMIN_URL})`,
    )
    .option(
      '--token-file <file>',
      "file holding the admin token (default $ADMIN_TOKEN, else npm start's .data/admin-token for a local admin API)",
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nEvery command takes -o, --output <text|json>; `agenc <command> --help` explains each.')
    .exitOverride();
  const clientFactory = () => {
    const { address, namespace } = program.opts<{ address?: string; namespace?: string }>();
    client ??= connectClient({ address, namespace });
    return client;
  };
  const adminFactory = () => resolveAdmin(program.opts<AdminOptions>());
  registerTaskCommands(program, clientFactory, adminFactory);
  registerProofCommands(program, clientFactory);
  registerOperatorCommands(program, clientFactory, adminFactory);
  registerProgramCommands(program, adminFactory);
  registerConfigCommands(program, clientFactory, adminFactory);
  registerSpeculationCommands(program, clientFactory, adminFactory);
  registerProofWorkerCommands(program, clientFactory);
  registerRolloutCommands(program, clientFactory, adminFactory);
  return {
    program,
    async close() {
      if (client) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}

function wantsJson(argv: string[]): boolean {
  const i = argv.findIndex((a) => a === '--output' || a === '-o');
  return (i >= 0 && argv[i + 1] === 'json') || argv.includes('--output=json');
}

export async function main(argv: string[]): Promise<void> {
  const { program, close } = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else {
      let message = (err as Error).message ?? String(err);
      let exitCode: number = EXIT.system;
      if (err instanceof CliError) exitCode = err.exitCode;
      if (err instanceof WorkflowNotFoundError && /speculation-control/.test(message)) {
        message = 'the speculation-control workflow is not running: start the worker (`npm start`) first';
      }
      if (wantsJson(argv))
        process.stdout.write(
          `${JSON.stringify({ error: message, ...(err instanceof CliError ? err.details : {}) }, null, 2)}\n`,
        );
      process.stderr.write(`agenc: ${message}\n`);
      process.exitCode = exitCode;
    }
  } finally {
    await close();
  }
}
