/**
 * `agenc admin check-pool [--program ID]`, the runbook's "Stake pool: initialized with sufficient
 * liquidity", as an operator runs it (`node bin/agenc.js`) against a real system: the operatorAction
 * workflow on the worker that holds the embedded SVM. The worker runs `agenc-tasks` only, so a
 * speculative task stays active with its bond locked (its root waits for a proof no worker takes).
 */
import { Keypair } from '@solana/web3.js';
import { bondAddress, custodyOf } from '../../activities/chain';
import { BOND } from '../../activities/chain/custody/layout';
import type { PoolReport } from '../../shared/stake-records';
import { controlStatus } from '../../temporal/control';
import { TASK_QUEUE } from '../../shared/task-queues';
import { type CliRun, runAgenc } from '../helpers/agenc-cli';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'check-pool',
    config: speculativeConfig({ speculation: { confirmation_timeout_ms: 600_000 } }),
    worker: { queues: [TASK_QUEUE] },
  });
});
afterAll(() => sys?.close());

function agenc(args: string[]): Promise<CliRun> {
  return runAgenc(['--namespace', sys.namespace, 'admin', 'check-pool', ...args]);
}

const json = async (args: string[] = []) => {
  const r = await agenc([...args, '--output', 'json']);
  return { ...r, report: JSON.parse(r.stdout) as PoolReport };
};

const authority = () => sys.worker.stakeDeps!.keys.authority().publicKey;

test('a pool nobody has deposited into is not initialized: exit 1, saying what is missing and what to run', async () => {
  const { code, report } = await json();
  expect(code).toBe(1);
  expect(report).toMatchObject({ ok: false, initialized: false, funded: false, stake: { agents: 0, available: 0 } });
  expect(report.problems.join('\n')).toContain('agenc stake init --amount');
});

test('once stake is deposited the pool is initialized and funded: exit 0, accounts and balances as on chain', async () => {
  await sys.fundAgent('default', 1_000_000_000);
  const { code, report } = await json();
  const chain = sys.worker.stakeDeps!.chain;
  const keys = sys.worker.stakeDeps!.keys;
  expect(code).toBe(0);
  expect(report).toMatchObject({
    ok: true,
    initialized: true,
    funded: true,
    problems: [],
    authority: { address: authority().toBase58(), lamports: await chain.getLamports(authority()) },
    treasury: {
      address: keys.treasury().publicKey.toBase58(),
      lamports: await chain.getLamports(keys.treasury().publicKey),
    },
    stake: { agents: 1, available: 1_000_000_000 },
    escrow: { bond_accounts: 0, locked_in_bonds: 0, held: 0 },
  });
  // The smallest bond a speculative task takes: depth 1 under the live configuration.
  const stake = (await controlStatus(sys.client)).config.speculation.stake;
  expect(report.stake.smallest_bond).toBe(Math.min(stake.max_stake, stake.min_stake + stake.stake_per_depth));

  const text = await agenc([]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`protocol authority ${authority().toBase58()}`);
  expect(text.stdout).toContain('Stake pool initialized and funded.');
  const custody = await custodyOf(sys.worker.stakeDeps!);
  expect(report.program).toEqual({ id: custody.programId.toBase58(), config: custody.config.toBase58() });
  expect(text.stdout).toContain(`custody program ${custody.programId.toBase58()}`);
});

test("--program must name this deployment's custody program: anything else exits 2 saying what is allowed", async () => {
  const program = (await custodyOf(sys.worker.stakeDeps!)).programId.toBase58();
  expect((await agenc(['--program', program])).code).toBe(0);

  const other = Keypair.generate().publicKey.toBase58();
  const wrong = await agenc(['--program', other]);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toContain(`--program ${other} is not this deployment's custody program ${program}`);

  const garbage = await agenc(['--program', 'not-a-key!']);
  expect(garbage.code).toBe(2);
  expect(garbage.stderr).toContain('--program "not-a-key!" is not a base58 Solana address');
});

test('a locked bond shows in the escrow; lamports in a bond account that no lock recorded are a problem (exit 1)', async () => {
  const root = await sys.submit({ type: 'compute', payload: { value: 3 } });
  const child = await sys.submit({ type: 'compute', payload: { value: 4 }, dependsOn: root });
  const deps = sys.worker.stakeDeps!;
  const bond = await bondAddress(deps, child);
  const bondRent = await deps.chain.rentExemptMinimum(BOND.len);
  const locked =
    (await pollUntil(
      'the child to speculate with its bond locked',
      () => deps.chain.getLamports(bond),
      (lamports) => lamports > 0,
      30_000,
      250,
    )) - bondRent;
  expect((await controlStatus(sys.client)).active.map((a) => a.taskId)).toEqual([child]);

  const healthy = await json();
  expect(healthy.code).toBe(0);
  expect(healthy.report.escrow).toEqual({ bond_accounts: 1, locked_in_bonds: locked, held: locked });

  await sys.worker.stakeDeps!.chain.airdrop(bond, 5_000);
  const moved = await json();
  expect(moved.code).toBe(1);
  expect(moved.report.escrow).toEqual({ bond_accounts: 1, locked_in_bonds: locked, held: locked + 5_000 });
  expect(moved.report.problems).toEqual([
    expect.stringContaining(`bond accounts hold ${locked + 5_000} lamports; the locks recorded for them say ${locked}`),
  ]);
});
