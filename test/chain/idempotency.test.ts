/**
 * Activities retried after a crash at any point end in the same state and move lamports once.
 * "Crash after send, before return" is simulated by sending the activity's own transaction through the
 * port (as the lost attempt did) and then running the activity as Temporal's retry would.
 */
import { bondAddress, bondSeed, stakeAddress, stakeSeed, type LockBondInput } from '../../activities/chain';
import { buildLockTx, buildReleaseTx, buildSlashTx } from '../../activities/chain/transactions';
import { STAKE, balances, embeddedEnv, type ChainEnv } from './helpers';

let env: ChainEnv;
beforeEach(async () => {
  env = await embeddedEnv();
  await env.operator.stakeInit({ agent: 'bob', amount: 30_000_000 });
});
afterEach(() => env.close());

const lockInput = (taskId: string): LockBondInput => ({ taskId, agent: 'bob', depth: 1, stake: STAKE });

test('lock retried after it succeeded: alreadyLocked, same signature, lamports moved once', async () => {
  const first = await env.activities.lockBond(lockInput('t1'));
  const afterFirst = await balances(env, 'bob', 't1');
  const retry = await env.activities.lockBond(lockInput('t1'));
  expect(retry).toEqual({ ...first, alreadyLocked: true });
  expect(await balances(env, 'bob', 't1')).toEqual(afterFirst);
});

test('release and slash retried: alreadySettled with the original outcome and amounts', async () => {
  await env.activities.lockBond(lockInput('t-rel'));
  const released = await env.activities.releaseBond({ taskId: 't-rel', agent: 'bob', reason: 'confirmed' });
  const afterRelease = await balances(env, 'bob', 't-rel');
  const releasedAgain = await env.activities.releaseBond({ taskId: 't-rel', agent: 'bob', reason: 'confirmed' });
  expect(releasedAgain).toEqual({ ...released, alreadySettled: true });
  expect(await balances(env, 'bob', 't-rel')).toEqual(afterRelease);

  await env.activities.lockBond(lockInput('t-sl'));
  const slashed = await env.activities.slashBond({ taskId: 't-sl', agent: 'bob', slashPercentage: 0.1, reason: 'proof failed' });
  const afterSlash = await balances(env, 'bob', 't-sl');
  const slashedAgain = await env.activities.slashBond({ taskId: 't-sl', agent: 'bob', slashPercentage: 0.1, reason: 'proof failed' });
  expect(slashedAgain).toEqual({ ...slashed, alreadySettled: true });
  // A release arriving after the slash (e.g. a late compensation) reports the slash and moves nothing.
  const lateRelease = await env.activities.releaseBond({ taskId: 't-sl', agent: 'bob', reason: 'late' });
  expect(lateRelease).toMatchObject({ outcome: 'slashed', slashed: slashed.slashed, returned: slashed.returned, alreadySettled: true });
  expect(await balances(env, 'bob', 't-sl')).toEqual(afterSlash);
});

test('lock retried after a crash between send and return finds the landed bond', async () => {
  const authority = env.keys.authority();
  const bond = { address: await bondAddress(authority.publicKey, 't-crash'), seed: bondSeed('t-crash') };
  const stake = { address: await stakeAddress(authority.publicKey, 'bob'), seed: stakeSeed('bob') };
  const lost = await env.chain.send(
    buildLockTx({
      authority: authority.publicKey,
      stake,
      bond,
      amount: 1_500_000,
      memo: { action: 'lock', task: 't-crash', agent: 'bob', depth: 1, amount: 1_500_000 },
    }),
    [authority],
  );
  const afterLost = await balances(env, 'bob', 't-crash');
  const retry = await env.activities.lockBond(lockInput('t-crash'));
  expect(retry).toMatchObject({ alreadyLocked: true, amount: 1_500_000, signature: lost.signature });
  expect(await balances(env, 'bob', 't-crash')).toEqual(afterLost);
});

test('release and slash retried after a crash between send and return move nothing more', async () => {
  const authority = env.keys.authority();
  const stake = await stakeAddress(authority.publicKey, 'bob');
  for (const taskId of ['t-crash-rel', 't-crash-sl']) await env.activities.lockBond(lockInput(taskId));

  const relBond = { address: await bondAddress(authority.publicKey, 't-crash-rel'), seed: bondSeed('t-crash-rel') };
  const lostRelease = await env.chain.send(
    buildReleaseTx({
      authority: authority.publicKey,
      bond: relBond,
      stake,
      amount: 1_500_000,
      memo: { action: 'release', task: 't-crash-rel', agent: 'bob', amount: 1_500_000, reason: 'x' },
    }),
    [authority],
  );
  const afterRelease = await balances(env, 'bob', 't-crash-rel');
  expect(await env.activities.releaseBond({ taskId: 't-crash-rel', agent: 'bob', reason: 'x' })).toMatchObject({
    outcome: 'released',
    returned: 1_500_000,
    signature: lostRelease.signature,
    alreadySettled: true,
  });
  expect(await balances(env, 'bob', 't-crash-rel')).toEqual(afterRelease);

  // Treasury funded as the activity would have done before its lost slash.
  await env.activities.lockBond(lockInput('t-fund'));
  await env.activities.slashBond({ taskId: 't-fund', agent: 'bob', slashPercentage: 0.1, reason: 'fund treasury' });
  const slBond = { address: await bondAddress(authority.publicKey, 't-crash-sl'), seed: bondSeed('t-crash-sl') };
  const lostSlash = await env.chain.send(
    buildSlashTx({
      authority: authority.publicKey,
      bond: slBond,
      stake,
      treasury: env.keys.treasury().publicKey,
      slashed: 150_000,
      returned: 1_350_000,
      memo: { action: 'slash', task: 't-crash-sl', agent: 'bob', amount: 1_500_000, slashed: 150_000, returned: 1_350_000, slash_percentage: 0.1, reason: 'x' },
    }),
    [authority],
  );
  const afterSlash = await balances(env, 'bob', 't-crash-sl');
  expect(await env.activities.slashBond({ taskId: 't-crash-sl', agent: 'bob', slashPercentage: 0.1, reason: 'x' })).toMatchObject({
    outcome: 'slashed',
    slashed: 150_000,
    returned: 1_350_000,
    signature: lostSlash.signature,
    alreadySettled: true,
  });
  expect(await balances(env, 'bob', 't-crash-sl')).toEqual(afterSlash);
});

test('lock retried after the bond was already settled does not lock again', async () => {
  await env.activities.lockBond(lockInput('t-done'));
  await env.activities.releaseBond({ taskId: 't-done', agent: 'bob', reason: 'confirmed' });
  const settled = await balances(env, 'bob', 't-done');
  expect(await env.activities.lockBond(lockInput('t-done'))).toMatchObject({ alreadyLocked: true, settledAs: 'released' });
  expect(await balances(env, 'bob', 't-done')).toEqual(settled);
});

test('concurrent retries of one lock move lamports once', async () => {
  const before = await balances(env, 'bob', 't-race');
  const results = await Promise.allSettled([1, 2, 3].map(() => env.activities.lockBond(lockInput('t-race'))));
  expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
  const fresh = results.filter((r) => r.status === 'fulfilled' && !r.value.alreadyLocked);
  expect(fresh).toHaveLength(1);
  expect(await balances(env, 'bob', 't-race')).toEqual({ ...before, stake: before.stake - 1_500_000, bond: 1_500_000 });
});
