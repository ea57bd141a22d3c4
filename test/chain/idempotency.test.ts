/**
 * Activities retried after a crash at any point end in the same state and move lamports once.
 * "Crash after send, before return" is simulated by an attempt whose chain lands its transaction and then
 * goes dark (every call after the send throws, as for a worker that died there), followed by the
 * activity run again on the real chain, as Temporal's retry would.
 */
import { SystemProgram, Transaction } from '@solana/web3.js';
import {
  bondAddress,
  createStakeActivities,
  type ChainPort,
  type LockBondInput,
  type StakeActivities,
} from '../../activities/chain';
import { STAKE, balances, embeddedEnv, type ChainEnv } from './helpers';

let env: ChainEnv;
beforeEach(async () => {
  env = await embeddedEnv();
  await env.operator.stakeInit({ agent: 'bob', amount: 30_000_000 });
});
afterEach(() => env.close());

const lockInput = (taskId: string): LockBondInput => ({ taskId, agent: 'bob', depth: 1, stake: STAKE });

/** A plain System transfer from bob's own wallet to a task's bond address (which creates the account if it is not there). */
async function prefund(taskId: string, lamports: number): Promise<void> {
  const wallet = env.keys.agent('bob');
  const to = await bondAddress(env.deps, taskId);
  await env.chain.airdrop(wallet.publicKey, 1_000_000_000); // the wallet stays rent-exempt after the transfer and its fee
  await env.chain.send(
    new Transaction().add(SystemProgram.transfer({ fromPubkey: wallet.publicKey, toPubkey: to, lamports })),
    [wallet],
  );
}

/** The lock fails as BondUnusable, non-retryable, and moves nothing. */
async function expectBondUnusable(call: () => Promise<unknown>, taskId: string, message: RegExp): Promise<void> {
  const before = await balances(env, 'bob', taskId);
  const outcome = await call().then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  expect(outcome).toMatchObject({ error: { type: 'BondUnusable', nonRetryable: true } });
  expect((outcome as { error: Error }).error.message).toMatch(message);
  expect(await balances(env, 'bob', taskId)).toEqual(before);
}

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
  const slashed = await env.activities.slashBond({
    taskId: 't-sl',
    agent: 'bob',
    slashPercentage: 0.1,
    reason: 'proof failed',
  });
  const afterSlash = await balances(env, 'bob', 't-sl');
  const slashedAgain = await env.activities.slashBond({
    taskId: 't-sl',
    agent: 'bob',
    slashPercentage: 0.1,
    reason: 'proof failed',
  });
  expect(slashedAgain).toEqual({ ...slashed, alreadySettled: true });
  // A release arriving after the slash (e.g. a late compensation) reports the slash and moves nothing.
  const lateRelease = await env.activities.releaseBond({ taskId: 't-sl', agent: 'bob', reason: 'late' });
  expect(lateRelease).toMatchObject({
    outcome: 'slashed',
    slashed: slashed.slashed,
    returned: slashed.returned,
    alreadySettled: true,
  });
  expect(await balances(env, 'bob', 't-sl')).toEqual(afterSlash);
});

/** Activities whose attempt dies right after its transaction landed: the send's reply and everything after it is lost. */
function dyingAfterSend(): { activities: StakeActivities; landed: () => string } {
  let signature: string | null = null;
  const chain = new Proxy(env.chain, {
    get(target, prop: keyof ChainPort) {
      const real = target[prop];
      if (typeof real !== 'function') return real;
      return async (...args: unknown[]) => {
        if (signature !== null) throw new Error('worker died');
        const result = await (real as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (prop === 'send') {
          signature = (result as { signature: string }).signature;
          throw new Error('worker died');
        }
        return result;
      };
    },
  });
  const activities = createStakeActivities({ chain, keys: env.keys });
  return { activities, landed: () => signature ?? '' };
}

test('lock retried after a crash between send and return finds the landed bond', async () => {
  // The first lock of a fresh env sets the program's config (a send of its own): done here, before the crash.
  await env.activities.lockBond(lockInput('t-warm'));
  const lost = dyingAfterSend();
  await expect(lost.activities.lockBond(lockInput('t-crash'))).rejects.toThrow('worker died');
  const afterLost = await balances(env, 'bob', 't-crash');
  expect(afterLost.bond).toBe(1_500_000);
  const retry = await env.activities.lockBond(lockInput('t-crash'));
  expect(retry).toMatchObject({ alreadyLocked: true, amount: 1_500_000, signature: lost.landed() });
  expect(await balances(env, 'bob', 't-crash')).toEqual(afterLost);
});

test('release and slash retried after a crash between send and return move nothing more', async () => {
  for (const taskId of ['t-crash-rel', 't-crash-sl', 't-fund']) await env.activities.lockBond(lockInput(taskId));
  const lostRelease = dyingAfterSend();
  await expect(
    lostRelease.activities.releaseBond({ taskId: 't-crash-rel', agent: 'bob', reason: 'x' }),
  ).rejects.toThrow('worker died');
  const afterRelease = await balances(env, 'bob', 't-crash-rel');
  expect(afterRelease.bond).toBe(0);
  expect(await env.activities.releaseBond({ taskId: 't-crash-rel', agent: 'bob', reason: 'x' })).toMatchObject({
    outcome: 'released',
    returned: 1_500_000,
    signature: lostRelease.landed(),
    alreadySettled: true,
  });
  expect(await balances(env, 'bob', 't-crash-rel')).toEqual(afterRelease);

  // Treasury funding and the slash percentage set as a first slash leaves them, before the lost slash.
  await env.activities.slashBond({ taskId: 't-fund', agent: 'bob', slashPercentage: 0.1, reason: 'proof_failed' });
  const lostSlash = dyingAfterSend();
  await expect(
    lostSlash.activities.slashBond({
      taskId: 't-crash-sl',
      agent: 'bob',
      slashPercentage: 0.1,
      reason: 'proof_failed',
    }),
  ).rejects.toThrow('worker died');
  const afterSlash = await balances(env, 'bob', 't-crash-sl');
  expect(
    await env.activities.slashBond({
      taskId: 't-crash-sl',
      agent: 'bob',
      slashPercentage: 0.1,
      reason: 'proof_failed',
    }),
  ).toMatchObject({
    outcome: 'slashed',
    slashed: 150_000,
    returned: 1_350_000,
    signature: lostSlash.landed(),
    alreadySettled: true,
  });
  expect(await balances(env, 'bob', 't-crash-sl')).toEqual(afterSlash);
});

test('lock after the bond was released or slashed (a reset, a reused task id): BondUnusable naming the settlement, nothing moved', async () => {
  await env.activities.lockBond(lockInput('t-done'));
  const release = await env.activities.releaseBond({ taskId: 't-done', agent: 'bob', reason: 'confirmed' });
  await expectBondUnusable(
    () => env.activities.lockBond(lockInput('t-done')),
    't-done',
    new RegExp(
      `bond for task t-done was already locked and released at signature ${release.signature}; a settled bond cannot back a new speculation`,
    ),
  );

  await env.activities.lockBond(lockInput('t-slashed'));
  const slash = await env.activities.slashBond({
    taskId: 't-slashed',
    agent: 'bob',
    slashPercentage: 0.1,
    reason: 'proof failed',
  });
  await expectBondUnusable(
    () => env.activities.lockBond(lockInput('t-slashed')),
    't-slashed',
    new RegExp(`locked and slashed at signature ${slash.signature}`),
  );
});

test('a bond address pre-funded by a plain transfer does not block the lock: the bond is allocated over it', async () => {
  // Anyone can send lamports to a derivable address; the lock must not be refused for it (that would let
  // a stranger keep any task from speculating). The dust goes back to the authority with the bond's rent.
  const dust = await env.chain.rentExemptMinimum(0);
  await prefund('t-dust', dust);
  const before = await balances(env, 'bob', 't-dust');
  expect(await env.activities.lockBond(lockInput('t-dust'))).toMatchObject({ alreadyLocked: false, amount: 1_500_000 });
  expect(await balances(env, 'bob', 't-dust')).toEqual({
    ...before,
    stake: before.stake - 1_500_000,
    bond: dust + 1_500_000,
  });
  await env.activities.releaseBond({ taskId: 't-dust', agent: 'bob', reason: 'confirmed' });
  expect(await balances(env, 'bob', 't-dust')).toEqual({ ...before, bond: 0 });
});

test('a bond address funded again after its settlement: the lock is BondUnusable (settled), nothing moved', async () => {
  await env.activities.lockBond(lockInput('t-refill'));
  await env.activities.releaseBond({ taskId: 't-refill', agent: 'bob', reason: 'confirmed' });
  await prefund('t-refill', await env.chain.rentExemptMinimum(0));
  await expectBondUnusable(
    () => env.activities.lockBond(lockInput('t-refill')),
    't-refill',
    /already locked and released .*; a settled bond cannot back a new speculation/,
  );
});

test('settling moves only a live lock: lamports sent to a bond address before any lock or after its settlement stay where they are', async () => {
  // The compensation is registered before the lock, so it also runs for a task whose lock was refused.
  await prefund('t-unlocked', await env.chain.rentExemptMinimum(0));
  const unlocked = await balances(env, 'bob', 't-unlocked');
  expect(await env.activities.releaseBond({ taskId: 't-unlocked', agent: 'bob', reason: 'confirmed' })).toMatchObject({
    outcome: 'never_locked',
    returned: 0,
    signature: null,
  });
  expect(
    await env.activities.slashBond({ taskId: 't-unlocked', agent: 'bob', slashPercentage: 0.5, reason: 'x' }),
  ).toMatchObject({
    outcome: 'never_locked',
    slashed: 0,
  });
  expect(await balances(env, 'bob', 't-unlocked')).toEqual(unlocked);

  await env.activities.lockBond(lockInput('t-again'));
  const release = await env.activities.releaseBond({ taskId: 't-again', agent: 'bob', reason: 'confirmed' });
  await prefund('t-again', await env.chain.rentExemptMinimum(0));
  const refilled = await balances(env, 'bob', 't-again');
  expect(await env.activities.releaseBond({ taskId: 't-again', agent: 'bob', reason: 'late' })).toEqual({
    ...release,
    alreadySettled: true,
  });
  expect(await balances(env, 'bob', 't-again')).toEqual(refilled);
});

test('a landed lock of another amount is not this lock (the depth rule now asks for more): BondUnusable', async () => {
  await env.activities.lockBond(lockInput('t-small'));
  await expectBondUnusable(
    () => env.activities.lockBond({ ...lockInput('t-small'), depth: 3 }),
    't-small',
    /holds a live bond of 1500000 lamports .* but this speculation needs 2500000/,
  );
});

test('lamports sent to a live bond on top of its lock do not make the lock unusable', async () => {
  const first = await env.activities.lockBond(lockInput('t-topped'));
  await prefund('t-topped', 5_000);
  expect(await env.activities.lockBond(lockInput('t-topped'))).toEqual({ ...first, alreadyLocked: true });
});

test('concurrent retries of one lock move lamports once', async () => {
  const before = await balances(env, 'bob', 't-race');
  const results = await Promise.allSettled([1, 2, 3].map(() => env.activities.lockBond(lockInput('t-race'))));
  expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
  const fresh = results.filter((r) => r.status === 'fulfilled' && !r.value.alreadyLocked);
  expect(fresh).toHaveLength(1);
  expect(await balances(env, 'bob', 't-race')).toEqual({ ...before, stake: before.stake - 1_500_000, bond: 1_500_000 });
});

test('concurrent locks of one task with different amounts: one locks, the other is not counted as landed (BondUnusable)', async () => {
  const before = await balances(env, 'bob', 't-race2');
  const results = await Promise.allSettled(
    [1, 3].map((depth) => env.activities.lockBond({ ...lockInput('t-race2'), depth })),
  );
  const locked = results.filter((r) => r.status === 'fulfilled');
  expect(locked).toHaveLength(1);
  const amount = (locked[0] as PromiseFulfilledResult<{ amount: number; alreadyLocked: boolean }>).value.amount;
  expect(results.find((r) => r.status === 'rejected')).toMatchObject({
    reason: { type: 'BondUnusable', nonRetryable: true },
  });
  expect(await balances(env, 'bob', 't-race2')).toEqual({ ...before, stake: before.stake - amount, bond: amount });
});
