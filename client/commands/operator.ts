/**
 * `agenc stake …` and `agenc admin …`: operator requests run through the `operatorAction` workflow on the
 * worker that holds the chain. The writes (stake init, withdraw, release-bond) go through the admin API
 * (`POST /admin/stake/…`) with the token; the reads (stake status, the checks) start the workflow directly.
 */
import type { Command } from 'commander';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { PublicKey } from '@solana/web3.js';
import type {
  PoolReport,
  SettleBondResult,
  SlashingHistory,
  StakeInitResult,
  StakeWithdrawResult,
} from '../../shared/stake-records';
import type { IntegrityReport, OperatorRequest, StakeStatusWithCooldown } from '../../shared/operator-contract';
import { TASK_QUEUE } from '../../shared/task-queues';
import { controlStatus, statusBody } from '../../temporal/control';
import { adminRequest } from '../admin';
import { CliError, emit, EXIT, type OutputOptions, parseLamports, table, withOutput } from '../output';
import { DEFAULT_AGENT, newTaskId } from '../tasks';
import { durationArgument } from '../triage';
import { rethrowAsUsageError } from './task';
import type { AdminFactory, ClientFactory } from './context';

const summaries: Record<OperatorRequest['kind'], string> = {
  stakeInit: 'stake init',
  stakeStatus: 'stake status',
  stakeWithdraw: 'stake withdraw',
  checkIntegrity: 'integrity check',
  checkPool: 'stake pool check',
  releaseBond: 'release a bond',
  closeRecords: 'close settled commitment records',
  slashingHistory: 'slashing history',
};

/** Runs one operator request to completion; a failure's root cause becomes the CLI's message. */
export async function runOperatorAction<T>(client: Client, request: OperatorRequest): Promise<T> {
  const id = `op-${request.kind}-${newTaskId()}`;
  try {
    return (await client.workflow.execute('operatorAction', {
      workflowId: id,
      taskQueue: TASK_QUEUE,
      args: [request],
      staticSummary: `operator: ${summaries[request.kind]}${'input' in request && 'agent' in request.input && request.input.agent ? ` (agent ${request.input.agent})` : ''}`,
      workflowExecutionTimeout: '5 minutes',
    })) as T;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      let cause: unknown = err.cause;
      while ((cause as { cause?: unknown })?.cause) cause = (cause as { cause?: unknown }).cause;
      throw new CliError((cause as Error | undefined)?.message ?? err.message, EXIT.usage);
    }
    throw err;
  }
}

export function registerOperatorCommands(
  program: Command,
  clientFactory: ClientFactory,
  adminFactory: AdminFactory,
): void {
  const stake = program.command('stake').description('Agent stake on Solana: deposit, inspect, withdraw');
  const agentOption = ['-a, --agent <name>', 'agent name', process.env.AGENC_AGENT ?? DEFAULT_AGENT] as const;

  withOutput(
    stake
      .command('init')
      .description("Fund an agent's stake account (on the embedded chain the wallet is airdropped first)")
      .requiredOption('--amount <lamports>', 'lamports to deposit (1 SOL = 1000000000)')
      .option(...agentOption),
  ).action(async (opts: OutputOptions & { amount: string; agent: string }) => {
    const amount = parseLamports('--amount', opts.amount);
    const { body: r } = await adminRequest<StakeInitResult>(adminFactory(), 'POST', '/admin/stake/init', {
      agent: opts.agent,
      amount,
      request_id: `init-${newTaskId()}`,
    });
    emit(
      opts,
      r,
      () =>
        `agent ${r.agent}: deposited ${r.deposited} lamports into stake account ${r.stake_account}${r.airdropped ? ` (airdropped ${r.airdropped} to the wallet first)` : ''}`,
    );
  });

  withOutput(
    stake
      .command('status')
      .description('Deposited, available, locked in bonds, slashed, cooldown, per agent')
      .option('-a, --agent <name>', 'only this agent'),
  ).action(async (opts: OutputOptions & { agent?: string }) => {
    const r = await runOperatorAction<StakeStatusWithCooldown>(await clientFactory(), {
      kind: 'stakeStatus',
      input: { agent: opts.agent },
    });
    const rows = r.agents.map((a) => ({
      ...a,
      bonds: a.bonds.length,
      cooldown_until: r.cooldown_until[a.agent] ?? null,
    }));
    emit(
      opts,
      { ...r, agents: r.agents.map((a) => ({ ...a, cooldown_until: r.cooldown_until[a.agent] ?? null })) },
      () =>
        [
          `chain: ${r.chain}   treasury: ${r.treasury.lamports} lamports (${r.treasury.address})`,
          table(rows, ['agent', 'deposited', 'available', 'locked_in_bonds', 'slashed', 'bonds', 'cooldown_until']),
        ].join('\n'),
    );
  });

  withOutput(
    stake
      .command('withdraw')
      .description("Move available stake (never what is locked in bonds) back to the agent's wallet")
      .option('--amount <lamports>', 'lamports to withdraw (default: everything available)')
      .option(...agentOption),
  ).action(async (opts: OutputOptions & { amount?: string; agent: string }) => {
    const amount = opts.amount === undefined ? undefined : parseLamports('--amount', opts.amount);
    const { body: r } = await adminRequest<StakeWithdrawResult>(adminFactory(), 'POST', '/admin/stake/withdraw', {
      agent: opts.agent,
      amount,
      request_id: `withdraw-${newTaskId()}`,
    });
    emit(
      opts,
      r,
      () => `agent ${r.agent}: withdrew ${r.withdrawn} lamports to ${r.wallet}; ${r.available_after} still available`,
    );
  });

  withOutput(
    stake
      .command('release-bond')
      .description(
        "Release the bond of a task whose workflow closed without settling it (terminated): all of it back to the agent's stake; " +
          'refused while the task runs (it settles its own). What `agenc admin check-integrity` names for a bond without a live commitment',
      )
      .requiredOption('--task <id>', 'the task whose bond to release')
      .requiredOption('--reason <text>', 'why, kept in the release memo on-chain')
      .option('-a, --agent <name>', "the bond's agent, only when the task's workflow is gone from Temporal"),
  ).action(async (opts: OutputOptions & { task: string; reason: string; agent?: string }) => {
    const { body: r } = await adminRequest<SettleBondResult>(adminFactory(), 'POST', '/admin/stake/release-bond', {
      task_id: opts.task,
      reason: opts.reason,
      agent: opts.agent,
    });
    emit(opts, r, () =>
      r.alreadySettled
        ? `bond ${r.bondAddress} of task ${r.taskId} was already ${r.outcome}; nothing moved`
        : `bond ${r.bondAddress} of task ${r.taskId}: ${r.returned} lamports released to agent ${r.agent}'s stake (${r.signature})`,
    );
  });

  withOutput(
    stake
      .command('slashing-history')
      .description(
        'Bonds slashed, oldest first, as the chain recorded them (the slash memos on the treasury): when, task, agent, amounts and why',
      )
      .option('--since <duration>', 'slashed within this long (1h, 24h, 7d)', '24h')
      .option('-a, --agent <name>', 'only this agent'),
  ).action(async (opts: OutputOptions & { since: string; agent?: string }) => {
    let sinceMs: number;
    try {
      sinceMs = Date.now() - durationArgument('since', opts.since);
    } catch (err) {
      rethrowAsUsageError(err);
    }
    const r = await runOperatorAction<SlashingHistory>(await clientFactory(), {
      kind: 'slashingHistory',
      input: { sinceMs, agent: opts.agent },
    });
    emit(opts, r, () =>
      [
        r.slashes.length
          ? table(
              r.slashes.map((s) => ({ ...s, slash: `${Math.round(s.slash_percentage * 100)}%` })),
              ['time', 'task_id', 'agent', 'bond', 'slashed', 'slash', 'reason'],
            )
          : `no bond slashed in the last ${opts.since}${opts.agent ? ` for agent ${opts.agent}` : ''}`,
        ...(r.slashes.length ? [`${r.slashes.length} slash(es), ${r.total_slashed} lamports to the treasury`] : []),
        ...(r.undated
          ? [`${r.undated} older slash(es) of the embedded chain have no recorded time and are left out`]
          : []),
      ].join('\n'),
    );
  });

  const admin = program.command('admin').description('Operator checks');
  withOutput(
    admin
      .command('check-integrity')
      .description(
        'Check lamports are conserved and every bond matches a live speculative commitment; exit 1 on any problem',
      )
      .requiredOption('--component <name>', 'what to check (speculation)'),
  ).action(async (opts: OutputOptions & { component: string }) => {
    if (opts.component !== 'speculation')
      throw new CliError(`--component "${opts.component}" is not known (only: speculation)`);
    const r = await runOperatorAction<IntegrityReport>(await clientFactory(), { kind: 'checkIntegrity' });
    emit(opts, r, () =>
      [
        ...(r.ok
          ? [
              `✓ lamports conserved: ${r.totals.actual} held = ${r.totals.expected} expected`,
              `✓ ${r.live_bonds} live bond(s), each matching an active speculative task`,
            ]
          : r.problems.map((p) => `✗ ${p}`)),
        r.ok ? 'Integrity check passed.' : `Integrity check failed: ${r.problems.length} problem(s).`,
      ].join('\n'),
    );
    if (!r.ok) process.exitCode = EXIT.negative;
  });

  withOutput(
    admin
      .command('check-pool')
      .description(
        'Check the stake pool is initialized with enough liquidity for a bond, and the bond escrow holds what was locked; exit 1 on any problem',
      )
      .option(
        '--program <id>',
        "the custody program's id (check-pool prints it); when given it must be this deployment's",
      ),
  ).action(async (opts: OutputOptions & { program?: string }) => {
    if (opts.program !== undefined) {
      try {
        new PublicKey(opts.program);
      } catch {
        throw new CliError(
          `--program "${opts.program}" is not a base58 Solana address (32 bytes, e.g. the program id printed by \`agenc admin check-pool\`)`,
        );
      }
    }
    const r = await runOperatorAction<PoolReport>(await clientFactory(), {
      kind: 'checkPool',
      input: { program: opts.program },
    });
    emit(opts, r, () =>
      [
        `chain: ${r.chain}`,
        `custody program ${r.program.id} (config ${r.program.config})`,
        `protocol authority ${r.authority.address}: ${r.authority.lamports} lamports (pays fees; needs ≥ ${r.authority.min_lamports})`,
        `treasury ${r.treasury.address}: ${r.treasury.lamports} lamports`,
        `stake: ${r.stake.agents} agent(s), ${r.stake.available} lamports available (smallest bond ${r.stake.smallest_bond})`,
        `escrow: ${r.escrow.bond_accounts} bond account(s) hold ${r.escrow.held} lamports; locks recorded ${r.escrow.locked_in_bonds}`,
        ...r.problems.map((p) => `✗ ${p}`),
        r.ok ? 'Stake pool initialized and funded.' : `Stake pool check failed: ${r.problems.length} problem(s).`,
      ].join('\n'),
    );
    if (!r.ok) process.exitCode = EXIT.negative;
  });

  withOutput(admin.command('status').description('Speculation status as GET /admin/status shows it')).action(
    async (opts: OutputOptions) => {
      const body = statusBody(await controlStatus(await clientFactory()));
      emit(opts, body, () =>
        Object.entries(body.speculation)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
      );
    },
  );
}
