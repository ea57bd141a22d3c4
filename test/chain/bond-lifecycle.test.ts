/** Lock, release and slash through the custody program on the real embedded SVM: exact balances, one transaction each, Memo executed. */
import { bondAmount } from '../../activities/chain';
import { STAKE, balances, embeddedEnv, type ChainEnv } from './helpers';
import { runBondContract } from './contract';

let env: ChainEnv;
beforeEach(async () => {
  env = await embeddedEnv();
  await env.operator.stakeInit({ agent: 'alice', amount: 50_000_000 });
});
afterEach(() => env.close());

test('bondAmount is the linear rule capped at max_stake', () => {
  expect(bondAmount(0, STAKE)).toBe(1_000_000);
  expect(bondAmount(3, STAKE)).toBe(2_500_000);
  expect(bondAmount(5000, STAKE)).toBe(1_000_000_000);
});

test('lock moves the bond from stake to a bond account; release moves all of it back', async () => {
  const before = await balances(env, 'alice', 't-release');
  const lock = await env.activities.lockBond({ taskId: 't-release', agent: 'alice', depth: 2, stake: STAKE });
  expect(lock).toMatchObject({ taskId: 't-release', agent: 'alice', amount: 2_000_000, alreadyLocked: false });
  expect(lock.signature).toEqual(expect.any(String));

  const locked = await balances(env, 'alice', 't-release');
  expect(locked).toEqual({ ...before, stake: before.stake - 2_000_000, bond: 2_000_000 });

  const release = await env.activities.releaseBond({ taskId: 't-release', agent: 'alice', reason: 'parent confirmed' });
  expect(release).toMatchObject({ outcome: 'released', returned: 2_000_000, slashed: 0, alreadySettled: false });
  expect(await balances(env, 'alice', 't-release')).toEqual(before);
  expect(await env.chain.getAccount(await addressOfBond('t-release'))).toBeNull();
});

test('slash sends floor(amount × percentage) to the treasury and the rest back, in one transaction', async () => {
  const stake = { min_stake: 1_000_007, max_stake: 1_000_000_000, stake_per_depth: 0 };
  await env.activities.lockBond({ taskId: 't-slash', agent: 'alice', depth: 1, stake });
  const locked = await balances(env, 'alice', 't-slash');
  const treasuryBefore = locked.treasury;

  const slash = await env.activities.slashBond({
    taskId: 't-slash',
    agent: 'alice',
    slashPercentage: 0.1,
    reason: 'proof failed',
  });
  expect(slash).toMatchObject({ outcome: 'slashed', slashed: 100_000, returned: 900_007, alreadySettled: false });

  const after = await balances(env, 'alice', 't-slash');
  // The first slash also funds the treasury to the rent-exempt minimum (a separate authority transfer).
  const funding = treasuryBefore === 0 ? await env.chain.rentExemptMinimum(0) : 0;
  expect(after).toEqual({
    wallet: locked.wallet,
    stake: locked.stake + 900_007,
    bond: 0,
    treasury: treasuryBefore + funding + 100_000,
  });

  // One custody Slash instruction moved both parts (no System transfer: the program owns the bond).
  const logs = (await env.chain.getTransactionLogs(slash.signature ?? '')) ?? [];
  expect(logs.filter((l) => l.startsWith('Program 11111111111111111111111111111111 invoke'))).toHaveLength(0);
  expect(logs.filter((l) => / success$/.test(l))).toHaveLength(2); // custody + memo
});

test('every transaction runs the Memo program with JSON naming action, task, depth and amount', async () => {
  const lock = await env.activities.lockBond({ taskId: 't-memo', agent: 'alice', depth: 3, stake: STAKE });
  const logs = (await env.chain.getTransactionLogs(lock.signature ?? '')) ?? [];
  expect(logs).toContain('Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr success');
  const memoLine = logs.find((l) => l.startsWith('Program log: Memo'));
  expect(memoLine).toBeDefined();
  const json = JSON.parse(JSON.parse((memoLine ?? '').replace(/^Program log: Memo \(len \d+\): /, ''))) as Record<
    string,
    unknown
  >;
  expect(json).toMatchObject({
    app: 'agenc',
    action: 'lock',
    task: 't-memo',
    agent: 'alice',
    depth: 3,
    amount: 2_500_000,
  });

  const release = await env.activities.releaseBond({ taskId: 't-memo', agent: 'alice', reason: 'ok' });
  const releaseLogs = (await env.chain.getTransactionLogs(release.signature ?? '')) ?? [];
  expect(releaseLogs.some((l) => l.includes('\\"action\\":\\"release\\"') && l.includes('\\"amount\\":2500000'))).toBe(
    true,
  );
});

test('the adapter contract (also run against a cluster by rpc-contract.test.ts)', async () => {
  await runBondContract(env);
});

async function addressOfBond(taskId: string) {
  const { bondAddress } = await import('../../activities/chain');
  return bondAddress(env.deps, taskId);
}
