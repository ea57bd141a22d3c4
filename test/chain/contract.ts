/**
 * The lock/release/slash contract every ChainPort adapter must honour. Run against the embedded chain
 * in bond-lifecycle.test.ts and against a cluster in rpc-contract.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { bondAddress, commitAddress } from '../../activities/chain';
import { createCommitActivity, readCommitRecord } from '../../activities/chain/commit-activities';
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
  expect(await env.activities.lockBond({ taskId: t1, agent, depth: 2, stake: STAKE })).toMatchObject({
    alreadyLocked: true,
    signature: lock1.signature,
  });
  const rel = await env.activities.releaseBond({ taskId: t1, agent, reason: 'contract' });
  expect(rel).toMatchObject({ outcome: 'released', returned: 1_500_003, alreadySettled: false });
  expect(await balances(env, agent, t1)).toEqual(start);
  expect(await env.activities.releaseBond({ taskId: t1, agent, reason: 'contract' })).toEqual({
    ...rel,
    alreadySettled: true,
  });

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
  expect(await env.activities.slashBond({ taskId: t2, agent, slashPercentage: 0.1, reason: 'contract' })).toEqual({
    ...slash,
    alreadySettled: true,
  });

  const logs = (await env.chain.getTransactionLogs(slash.signature ?? '')) ?? [];
  expect(logs).toContain('Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr success');

  const status = (await env.operator.stakeStatus({ agent })).agents[0];
  expect(status).toMatchObject({
    deposited: 20_000_000,
    slashed: 100_000,
    locked_in_bonds: 0,
    available: 20_000_000 - 100_000,
  });

  // What counts is the chain's content: a settled bond cannot be locked again; lamports someone else sent
  // to a bond address are no obstacle (the bond is allocated over them, and they go back with its rent).
  await expect(env.activities.lockBond({ taskId: t1, agent, depth: 2, stake: STAKE })).rejects.toMatchObject({
    type: 'BondUnusable',
    nonRetryable: true,
    message: expect.stringContaining(`already locked and released at signature ${rel.signature}`),
  });
  const t3 = `c-${run}-prefunded`;
  await env.chain.airdrop(await bondAddress(env.deps, t3), rent);
  const prefunded = await balances(env, agent, t3);
  expect(await env.activities.lockBond({ taskId: t3, agent, depth: 0, stake: STAKE })).toMatchObject({
    alreadyLocked: false,
  });
  expect(await balances(env, agent, t3)).toEqual({
    ...prefunded,
    stake: prefunded.stake - 1_000_003,
    bond: rent + 1_000_003,
  });
  expect(await env.activities.releaseBond({ taskId: t3, agent, reason: 'contract' })).toMatchObject({
    outcome: 'released',
    returned: 1_000_003,
  });
  expect(await balances(env, agent, t3)).toEqual({ ...prefunded, stake: prefunded.stake, bond: 0 });

  // A commitment record: idempotent with the same content, CommitmentMismatch with another, and written
  // even where someone else's lamports already sit at the commit address.
  const commits = createCommitActivity(env.deps, { finalityMs: 0 });
  const entry = { taskId: `c-${run}-commit`, agent, commitment: '42', parentCommitment: '0', verificationKeyHash: 'k' };
  const first = await commits.sendCommitments({ entries: [entry] });
  expect(await commits.sendCommitments({ entries: [entry] })).toEqual(first);
  await expect(commits.sendCommitments({ entries: [{ ...entry, commitment: '43' }] })).rejects.toMatchObject({
    type: 'CommitmentMismatch',
    nonRetryable: true,
    message: expect.stringContaining('commitment: on-chain "42", this entry "43"'),
  });
  const occupied = { ...entry, taskId: `c-${run}-occupied` };
  const occupiedAddress = await commitAddress(env.deps, occupied.taskId);
  await env.chain.airdrop(occupiedAddress, rent);
  const landed = await commits.sendCommitments({ entries: [occupied] });
  expect(
    await readCommitRecord(env.chain, env.keys.authority().publicKey, occupiedAddress, occupied.taskId),
  ).toMatchObject({
    signature: landed.signatures[occupied.taskId],
    memo: { task: occupied.taskId, agent, commitment: '42', parent: '0', vkey: 'k' },
  });
}
