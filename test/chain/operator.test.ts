/** Operator functions: deposit, status, withdraw; keys on disk; request ids make retries no-ops. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STAKE, embeddedEnv, type ChainEnv } from './helpers';
import { VAULT } from '../../activities/chain/custody/layout';

let env: ChainEnv;
beforeEach(async () => {
  env = await embeddedEnv();
});
afterEach(() => env.close());

test('stakeInit creates the wallet and stake account, status reports deposits, bonds and slashes', async () => {
  const rent = await env.chain.rentExemptMinimum(VAULT.len); // the stake vault's rent reserve
  const first = await env.operator.stakeInit({ agent: 'alice', amount: 10_000_000 });
  expect(first).toMatchObject({
    agent: 'alice',
    deposited: 10_000_000,
    rent_reserve_added: rent,
    airdropped: 10_000_000 + rent,
    alreadyApplied: false,
  });
  const second = await env.operator.stakeInit({ agent: 'alice', amount: 2_000_000 });
  expect(second).toMatchObject({ deposited: 2_000_000, rent_reserve_added: 0, stake_account: first.stake_account });

  await env.activities.lockBond({ taskId: 's1', agent: 'alice', depth: 1, stake: STAKE });
  await env.activities.lockBond({ taskId: 's2', agent: 'alice', depth: 0, stake: STAKE });
  await env.activities.slashBond({ taskId: 's2', agent: 'alice', slashPercentage: 0.5, reason: 'proof failed' });

  const status = await env.operator.stakeStatus();
  expect(status.chain).toBe('embedded');
  expect(status.agents).toHaveLength(1);
  expect(status.agents[0]).toMatchObject({
    agent: 'alice',
    wallet: first.wallet,
    stake_account: first.stake_account,
    deposited: 12_000_000,
    withdrawn: 0,
    rent_reserve: rent,
    available: 12_000_000 - 1_500_000 - 500_000,
    stake_lamports: rent + 12_000_000 - 1_500_000 - 500_000,
    locked_in_bonds: 1_500_000,
    slashed: 500_000,
    bonds: [{ task_id: 's1', depth: 1, amount: 1_500_000, on_chain: 1_500_000, bond_account: expect.any(String) }],
  });
  expect(JSON.stringify(status)).not.toMatch(/secret/i);
});

test('stakeWithdraw takes only what is available, never locked bonds; default is everything available', async () => {
  await env.operator.stakeInit({ agent: 'bob', amount: 10_000_000 });
  await env.activities.lockBond({ taskId: 'w', agent: 'bob', depth: 0, stake: STAKE });
  const walletBefore = (await env.operator.stakeStatus({ agent: 'bob' })).agents[0]?.wallet_lamports ?? -1;
  const all = await env.operator.stakeWithdraw({ agent: 'bob' });
  expect(all).toMatchObject({ withdrawn: 9_000_000, available_after: 0 });
  const status = (await env.operator.stakeStatus({ agent: 'bob' })).agents[0];
  expect(status).toMatchObject({
    available: 0,
    locked_in_bonds: 1_000_000,
    withdrawn: 9_000_000,
    wallet_lamports: walletBefore + 9_000_000,
  });
  await env.activities.releaseBond({ taskId: 'w', agent: 'bob', reason: 'ok' });
  expect(await env.operator.stakeWithdraw({ agent: 'bob', amount: 1_000_000 })).toMatchObject({ withdrawn: 1_000_000 });
  expect((await env.operator.checkIntegrity({ liveBonds: [] })).ok).toBe(true);
});

test('a retried stakeInit or stakeWithdraw with the same requestId is applied once', async () => {
  await env.operator.stakeInit({ agent: 'carol', amount: 3_000_000, requestId: 'req-1' });
  expect(await env.operator.stakeInit({ agent: 'carol', amount: 3_000_000, requestId: 'req-1' })).toMatchObject({
    alreadyApplied: true,
    deposited: 0,
  });
  await env.operator.stakeWithdraw({ agent: 'carol', amount: 1_000_000, requestId: 'req-2' });
  expect(await env.operator.stakeWithdraw({ agent: 'carol', amount: 1_000_000, requestId: 'req-2' })).toMatchObject({
    alreadyApplied: true,
  });
  expect((await env.operator.stakeStatus({ agent: 'carol' })).agents[0]).toMatchObject({
    deposited: 3_000_000,
    withdrawn: 1_000_000,
    available: 2_000_000,
  });
});

test('key files are created with mode 0600 in the Solana CLI format', async () => {
  await env.operator.stakeInit({ agent: 'dave', amount: 1_000_000 });
  await env.operator.stakeStatus(); // touches the treasury key
  expect(fs.statSync(path.join(env.dir, 'keys')).mode & 0o777).toBe(0o700);
  for (const file of ['authority.json', 'treasury.json', path.join('agents', 'dave.json')]) {
    const full = path.join(env.dir, 'keys', file);
    expect(fs.statSync(full).mode & 0o777).toBe(0o600);
    const bytes = JSON.parse(fs.readFileSync(full, 'utf8')) as number[];
    expect(bytes).toHaveLength(64);
  }
});
