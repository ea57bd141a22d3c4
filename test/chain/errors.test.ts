/** Every bad input fails with a typed, non-retryable ApplicationFailure before any transaction is sent. */
import * as fs from 'node:fs';
import { historyFileFor } from '../../activities/chain/chain-files';
import { STAKE, balances, embeddedEnv, type ChainEnv } from './helpers';

let env: ChainEnv;
beforeAll(async () => {
  env = await embeddedEnv();
  await env.operator.stakeInit({ agent: 'alice', amount: 5_000_000 });
  await env.operator.stakeInit({ agent: 'bob', amount: 5_000_000 });
  await env.activities.lockBond({ taskId: 'held', agent: 'alice', depth: 0, stake: STAKE });
});
afterAll(() => env.close());

/** Everything a failed call could have touched, plus the number of transactions the chain has recorded. */
async function world() {
  return {
    alice: await balances(env, 'alice', 'held'),
    bob: await balances(env, 'bob', 'held'),
    authority: await env.chain.getLamports(env.keys.authority().publicKey),
    transactions: fs.readFileSync(historyFileFor(env.accountsFile), 'utf8').trim().split('\n').length,
    agents: env.keys.listAgents(),
  };
}

async function expectFailure(call: () => Promise<unknown>, type: string, message?: RegExp) {
  const before = await world();
  const error = await call().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ type, nonRetryable: true });
  if (message) expect((error as Error).message).toMatch(message);
  expect(await world()).toEqual(before);
}

const lock = (over: Record<string, unknown>) => () =>
  env.activities.lockBond({ taskId: 'e1', agent: 'alice', depth: 0, stake: STAKE, ...over } as never);

test('insufficient stake names the available and required lamports', async () => {
  await expectFailure(
    lock({ depth: 100 }),
    'StakeInsufficientFunds',
    /"alice" has 4000000 lamports available .* requires 51000000/,
  );
});

test('unknown agent, for every activity and operator function that needs a wallet', async () => {
  await expectFailure(lock({ agent: 'nobody' }), 'UnknownAgent', /unknown agent "nobody"/);
  await expectFailure(
    () => env.activities.releaseBond({ taskId: 'held', agent: 'nobody', reason: '' }),
    'UnknownAgent',
  );
  await expectFailure(
    () => env.activities.slashBond({ taskId: 'held', agent: 'nobody', slashPercentage: 0.1, reason: '' }),
    'UnknownAgent',
  );
  await expectFailure(() => env.operator.stakeWithdraw({ agent: 'nobody' }), 'UnknownAgent');
  await expectFailure(() => env.operator.stakeStatus({ agent: 'nobody' }), 'UnknownAgent');
});

test('invalid agent names and task ids', async () => {
  for (const agent of ['Alice', '-x', '', 'a'.repeat(33), 'a b', '../etc']) {
    await expectFailure(lock({ agent }), 'InvalidAgentName');
  }
  await expectFailure(() => env.operator.stakeInit({ agent: 'UPPER', amount: 1 }), 'InvalidAgentName');
  await expectFailure(lock({ taskId: '' }), 'InvalidTaskId');
  await expectFailure(lock({ taskId: 'x'.repeat(129) }), 'InvalidTaskId');
});

test('negative or non-integer depths and amounts', async () => {
  await expectFailure(lock({ depth: -1 }), 'InvalidAmount', /depth/);
  await expectFailure(lock({ depth: 1.5 }), 'InvalidAmount', /depth/);
  await expectFailure(lock({ stake: { ...STAKE, min_stake: -1 } }), 'InvalidAmount', /min_stake/);
  await expectFailure(lock({ stake: { ...STAKE, stake_per_depth: 0.5 } }), 'InvalidAmount', /stake_per_depth/);
  await expectFailure(() => env.operator.stakeInit({ agent: 'alice', amount: 0 }), 'InvalidAmount');
  await expectFailure(() => env.operator.stakeInit({ agent: 'alice', amount: -5 }), 'InvalidAmount');
  await expectFailure(() => env.operator.stakeInit({ agent: 'alice', amount: 1.5 }), 'InvalidAmount');
  await expectFailure(() => env.operator.stakeWithdraw({ agent: 'alice', amount: -1 }), 'InvalidAmount');
  for (const slashPercentage of [-0.1, 1.5, Number.NaN]) {
    await expectFailure(
      () => env.activities.slashBond({ taskId: 'held', agent: 'alice', slashPercentage, reason: '' }),
      'InvalidAmount',
    );
  }
});

// A bond below the rent-exempt minimum is no longer an error: the bond account's own rent is the authority's.
test('a stake config whose minimum is above max_stake', async () => {
  await expectFailure(
    lock({ stake: { min_stake: 2_000_000, max_stake: 1_000_000, stake_per_depth: 0 } }),
    'InvalidStakeConfig',
    /above speculation\.stake\.max_stake/,
  );
});

test('withdrawing more than is available (locked bonds included) fails', async () => {
  await expectFailure(
    () => env.operator.stakeWithdraw({ agent: 'alice', amount: 4_000_001 }),
    'StakeInsufficientFunds',
    /4000000 lamports available/,
  );
});

test("settling another agent's bond fails", async () => {
  await expectFailure(
    () => env.activities.releaseBond({ taskId: 'held', agent: 'bob', reason: '' }),
    'BondAgentMismatch',
    /locked by agent "alice"/,
  );
  await expectFailure(
    () => env.activities.slashBond({ taskId: 'held', agent: 'bob', slashPercentage: 0.1, reason: '' }),
    'BondAgentMismatch',
  );
});
