/** The embedded chain survives a restart: accounts and history come back from its files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BankrunChain, KeyStore } from '../../activities/chain';
import { historyFileFor } from '../../activities/chain/bankrun-chain';
import { STAKE, balances, embeddedEnv, envFor, tempDir } from './helpers';

async function reopen(dir: string) {
  const accountsFile = path.join(dir, 'chain', 'svm-accounts.json');
  return envFor({ chain: await BankrunChain.open({ accountsFile }), keys: new KeyStore(path.join(dir, 'keys')) }, dir, accountsFile);
}

test('a new BankrunChain on the same file sees the same balances, bonds and ledger', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  await env.operator.stakeInit({ agent: 'carol', amount: 20_000_000 });
  await env.activities.lockBond({ taskId: 'p1', agent: 'carol', depth: 0, stake: STAKE });
  await env.activities.lockBond({ taskId: 'p2', agent: 'carol', depth: 4, stake: STAKE });
  await env.activities.slashBond({ taskId: 'p1', agent: 'carol', slashPercentage: 0.25, reason: 'x' });
  const before = await balances(env, 'carol', 'p2');
  const statusBefore = await env.operator.stakeStatus({ agent: 'carol' });
  const authorityBefore = await env.chain.getLamports(env.keys.authority().publicKey);
  await env.close();

  const again = await reopen(dir);
  try {
    expect(await balances(again, 'carol', 'p2')).toEqual(before);
    expect(await again.chain.getLamports(again.keys.authority().publicKey)).toBe(authorityBefore);
    expect(await again.operator.stakeStatus({ agent: 'carol' })).toEqual(statusBefore);
    // Retries after the restart still see the settled and the live bond.
    expect(await again.activities.slashBond({ taskId: 'p1', agent: 'carol', slashPercentage: 0.25, reason: 'x' })).toMatchObject({
      alreadySettled: true,
      slashed: 250_000,
    });
    expect(await again.activities.lockBond({ taskId: 'p2', agent: 'carol', depth: 4, stake: STAKE })).toMatchObject({ alreadyLocked: true, amount: 3_000_000 });
    const released = await again.activities.releaseBond({ taskId: 'p2', agent: 'carol', reason: 'ok' });
    expect(released).toMatchObject({ returned: 3_000_000, alreadySettled: false });
    expect((await again.operator.checkIntegrity({ liveBonds: [] })).ok).toBe(true);
  } finally {
    await again.close();
  }
});

test('the accounts file is written before send returns, and not left half-written', async () => {
  const env = await embeddedEnv();
  try {
    await env.operator.stakeInit({ agent: 'dave', amount: 5_000_000 });
    const lock = await env.activities.lockBond({ taskId: 'w1', agent: 'dave', depth: 0, stake: STAKE });
    const snapshot = JSON.parse(fs.readFileSync(env.accountsFile, 'utf8')) as { seq: number; accounts: Array<{ address: string; lamports: string }> };
    expect(snapshot.accounts).toContainEqual(expect.objectContaining({ address: lock.bondAddress, lamports: '1000000' }));
    const history = fs.readFileSync(historyFileFor(env.accountsFile), 'utf8').trim().split('\n');
    expect(JSON.parse(history[history.length - 1] ?? '{}')).toMatchObject({ seq: snapshot.seq, signature: lock.signature });
    expect(fs.readdirSync(path.dirname(env.accountsFile)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  } finally {
    await env.close();
  }
});

test('history appended without its snapshot (crash between the two writes) is dropped on restart', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  await env.operator.stakeInit({ agent: 'erin', amount: 5_000_000 });
  await env.close();
  const historyFile = historyFileFor(env.accountsFile);
  const lines = fs.readFileSync(historyFile, 'utf8').trim().split('\n');
  const last = JSON.parse(lines[lines.length - 1] ?? '{}') as { seq: number };
  fs.appendFileSync(
    historyFile,
    `${JSON.stringify({ ...last, seq: last.seq + 1, signature: 'ghost', memo: '{"app":"agenc","action":"withdraw","agent":"erin","amount":1}' })}\n{"torn`,
  );

  const again = await reopen(dir);
  try {
    expect(fs.readFileSync(historyFile, 'utf8').trim().split('\n')).toHaveLength(lines.length);
    expect((await again.operator.stakeStatus({ agent: 'erin' })).agents[0]).toMatchObject({ deposited: 5_000_000, withdrawn: 0 });
  } finally {
    await again.close();
  }
});

test('a second process (or an unclosed chain) cannot open the same state file', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  try {
    await expect(reopen(dir)).rejects.toMatchObject({ type: 'ChainStateLocked' });
  } finally {
    await env.close();
  }
  const again = await reopen(dir); // free again once closed
  await again.close();
});
