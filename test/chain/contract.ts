/**
 * The lock/release/slash contract every ChainPort adapter must honour. Run against the embedded chain
 * in bond-lifecycle.test.ts and against a cluster in rpc-contract.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { balances, type ChainEnv } from './helpers';

const STAKE = { min_stake: 1_000_003, max_stake: 100_000_000, stake_per_depth: 250_000 };

export async function runBondContract(env: ChainEnv): Promise<void> {
  const run = randomBytes(4).toString('hex'); // a cluster keeps state between runs: fresh task ids
  const agent = `contract-${run}`;
  const rent = await env.chain.rentExemptMinimum(0);
  if (env.chain.kind === 'rpc') {
    await env.chain.airdrop(env.keys.authority().publicKey, 1_000_000_000);
    await env.chain.airdrop(env.keys.agent(agent, { create: true }).publicKey, 100_000_000);
  }
  await env.operator.stakeInit({ agent, amount: 20_000_000 });

  // lock → release: exact balances
  const t1 = `c-${run}-release`;
  const start = await balances(env, agent, t1);
  const lock1 = await env.activities.lockBond({ taskId: t1, agent, depth: 2, stake: STAKE });
  expect(lock1).toMatchObject({ amount: 1_500_003, alreadyLocked: false });
  expect(await balances(env, agent, t1)).toEqual({ ...start, stake: start.stake - 1_500_003, bond: 1_500_003 });
  expect(await env.activities.lockBond({ taskId: t1, agent, depth: 2, stake: STAKE })).toMatchObject({ alreadyLocked: true, signature: lock1.signature });
  const rel = await env.activities.releaseBond({ taskId: t1, agent, reason: 'contract' });
  expect(rel).toMatchObject({ outcome: 'released', returned: 1_500_003, alreadySettled: false });
  expect(await balances(env, agent, t1)).toEqual(start);
  expect(await env.activities.releaseBond({ taskId: t1, agent, reason: 'contract' })).toEqual({ ...rel, alreadySettled: true });

  // lock → slash: floor to the treasury, the rest back
  const t2 = `c-${run}-slash`;
  await env.activities.lockBond({ taskId: t2, agent, depth: 0, stake: STAKE });
  const locked = await balances(env, agent, t2);
  const slash = await env.activities.slashBond({ taskId: t2, agent, slashPercentage: 0.1, reason: 'contract' });
  expect(slash).toMatchObject({ outcome: 'slashed', slashed: 100_000, returned: 900_003, alreadySettled: false });
  const funding = locked.treasury < rent ? rent - locked.treasury : 0;
  expect(await balances(env, agent, t2)).toEqual({
    wallet: locked.wallet,
    stake: locked.stake + 900_003,
    bond: 0,
    treasury: locked.treasury + funding + 100_000,
  });
  expect(await env.activities.slashBond({ taskId: t2, agent, slashPercentage: 0.1, reason: 'contract' })).toEqual({ ...slash, alreadySettled: true });

  const logs = (await env.chain.getTransactionLogs(slash.signature ?? '')) ?? [];
  expect(logs).toContain('Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr success');

  const status = (await env.operator.stakeStatus({ agent })).agents[0];
  expect(status).toMatchObject({ deposited: 20_000_000, slashed: 100_000, locked_in_bonds: 0, available: 20_000_000 - 100_000 });
}
