/** checkIntegrity: conservation across stake accounts, bonds and treasury; bonds match live commitments. */
import { SystemProgram, Transaction } from '@solana/web3.js';
import { stakeAddress } from '../../activities/chain';
import { VAULT } from '../../activities/chain/custody/layout';
import { STAKE, embeddedEnv, type ChainEnv } from './helpers';

let env: ChainEnv;
beforeEach(async () => {
  env = await embeddedEnv();
  await env.operator.stakeInit({ agent: 'alice', amount: 40_000_000 });
  await env.operator.stakeInit({ agent: 'bob', amount: 10_000_000 });
  await env.activities.lockBond({ taskId: 'a1', agent: 'alice', depth: 0, stake: STAKE });
  await env.activities.lockBond({ taskId: 'a2', agent: 'alice', depth: 2, stake: STAKE });
  await env.activities.lockBond({ taskId: 'b1', agent: 'bob', depth: 1, stake: STAKE });
  await env.activities.slashBond({ taskId: 'a1', agent: 'alice', slashPercentage: 0.15, reason: 'timeout' });
  await env.operator.stakeWithdraw({ agent: 'bob', amount: 1_000_000 });
});
afterEach(() => env.close());

const live = [
  { taskId: 'a2', agent: 'alice', amount: 2_000_000 },
  { taskId: 'b1', agent: 'bob', amount: 1_500_000 },
];

test('a consistent state passes, fees notwithstanding', async () => {
  const result = await env.operator.checkIntegrity({ liveBonds: live });
  expect(result.problems).toEqual([]);
  expect(result.ok).toBe(true);
  const rent = await env.chain.rentExemptMinimum(0);
  const vaultRent = await env.chain.rentExemptMinimum(VAULT.len);
  expect(result.totals).toMatchObject({
    deposited: 50_000_000 + 2 * vaultRent,
    withdrawn: 1_000_000,
    slashed: 150_000,
    bonds: 3_500_000,
    treasury: rent + 150_000,
    treasury_funded: rent,
  });
  expect(result.totals.actual).toBe(result.totals.expected);
});

test('a bond with no live commitment, and a commitment with no bond, are reported', async () => {
  const result = await env.operator.checkIntegrity({
    liveBonds: [live[1]!, { taskId: 'ghost', agent: 'bob', amount: 1_000_000 }],
  });
  expect(result.ok).toBe(false);
  expect(result.problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/task a2 .*has no live commitment/),
      expect.stringMatching(/live commitment of task ghost .*has no bond on chain/),
    ]),
  );
});

test('a commitment whose amount differs from its bond is reported', async () => {
  const result = await env.operator.checkIntegrity({ liveBonds: [live[0]!, { ...live[1]!, amount: 1_400_000 }] });
  expect(result.problems).toEqual([
    expect.stringMatching(/bond of task b1 holds 1500000 lamports but the live commitment says 1400000/),
  ]);
});

test('the authority cannot move stake: a System transfer out of a vault is refused, the program owns it', async () => {
  const authority = env.keys.authority();
  const vault = await stakeAddress(env.deps, 'alice');
  const before = await env.chain.getLamports(vault);
  const alice = env.keys.agent('alice');
  // Not even with the agent's own signature: only the custody program moves a vault's lamports.
  await expect(
    env.chain.send(
      new Transaction().add(
        SystemProgram.transfer({ fromPubkey: vault, toPubkey: authority.publicKey, lamports: 12_345 }),
      ),
      [authority, alice],
    ),
  ).rejects.toThrow();
  expect(await env.chain.getLamports(vault)).toBe(before);
  expect((await env.operator.checkIntegrity({ liveBonds: live })).ok).toBe(true);
});

test('lamports arriving out of band (a transfer into a vault) are reported: the program did not count them', async () => {
  await env.chain.airdrop(await stakeAddress(env.deps, 'alice'), 12_345);
  const result = await env.operator.checkIntegrity({ liveBonds: live });
  expect(result.ok).toBe(false);
  expect(result.problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/stake vault .* of agent "alice" holds \d+ lamports; .* say \d+ \(moved out of band\?\)/),
      expect.stringMatching(/the custody program last left \d+ in it/),
      expect.stringMatching(/lamports not conserved/),
    ]),
  );
  expect(result.totals.actual - result.totals.expected).toBe(12_345);
});

test('lamports arriving out of band (a faucet transfer into the treasury) are reported too', async () => {
  await env.chain.airdrop(env.keys.treasury().publicKey, 777);
  const result = await env.operator.checkIntegrity({ liveBonds: live });
  expect(result.problems).toEqual(
    expect.arrayContaining([expect.stringMatching(/treasury .* holds \d+ lamports; funding and slashes say/)]),
  );
});
