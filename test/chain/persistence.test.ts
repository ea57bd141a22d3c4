/** The embedded chain survives a restart: accounts and history come back from its files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BankrunChain, KeyStore } from '../../activities/chain';
import { historyFileFor, journalFileFor } from '../../activities/chain/chain-files';
import { BOND } from '../../activities/chain/custody/layout';
import { STAKE, balances, embeddedEnv, envFor, tempDir, type ChainEnv } from './helpers';

async function reopen(dir: string, options: { compactEvery?: number; warn?: (message: string) => void } = {}) {
  const accountsFile = path.join(dir, 'chain', 'svm-accounts.json');
  return envFor(
    { chain: await BankrunChain.open({ accountsFile, ...options }), keys: new KeyStore(path.join(dir, 'keys')) },
    dir,
    accountsFile,
  );
}

/**
 * What a kill -9 leaves: the files as they are, the lock gone with its process, and, from a version
 * that kept the holder's pid in `<state>.lock`, that pid, which a restarted container may give to the
 * new process itself.
 */
async function crash(env: ChainEnv): Promise<void> {
  await (env.chain as BankrunChain).abandon();
  fs.writeFileSync(`${env.accountsFile}.lock`, String(process.pid));
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const lines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

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
    expect(
      await again.activities.slashBond({ taskId: 'p1', agent: 'carol', slashPercentage: 0.25, reason: 'x' }),
    ).toMatchObject({
      alreadySettled: true,
      slashed: 250_000,
    });
    expect(await again.activities.lockBond({ taskId: 'p2', agent: 'carol', depth: 4, stake: STAKE })).toMatchObject({
      alreadyLocked: true,
      amount: 3_000_000,
    });
    const released = await again.activities.releaseBond({ taskId: 'p2', agent: 'carol', reason: 'ok' });
    expect(released).toMatchObject({ returned: 3_000_000, alreadySettled: false });
    expect((await again.operator.checkIntegrity({ liveBonds: [] })).ok).toBe(true);
  } finally {
    await again.close();
  }
});

test('what a send changed is on disk before send returns: a crash right after it loses nothing', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  await env.operator.stakeInit({ agent: 'dave', amount: 5_000_000 });
  const lock = await env.activities.lockBond({ taskId: 'w1', agent: 'dave', depth: 0, stake: STAKE });
  const before = await balances(env, 'dave', 'w1');
  const history = lines(historyFileFor(env.accountsFile));
  expect(JSON.parse(history[history.length - 1]!)).toMatchObject({ signature: lock.signature });
  // The transaction's accounts are in the journal's last record, not in a rewrite of the whole state.
  const journal = lines(journalFileFor(env.accountsFile));
  const bondRent = await env.chain.rentExemptMinimum(BOND.len);
  expect(JSON.parse(journal[journal.length - 1]!).accounts).toContainEqual(
    expect.objectContaining({ address: lock.bondAddress, lamports: String(1_000_000 + bondRent) }),
  );
  expect(fs.readdirSync(path.dirname(env.accountsFile)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  await crash(env); // no close(): the process is gone

  const again = await reopen(dir);
  try {
    expect(await balances(again, 'dave', 'w1')).toEqual(before);
    expect(await again.activities.lockBond({ taskId: 'w1', agent: 'dave', depth: 0, stake: STAKE })).toMatchObject({
      alreadyLocked: true,
    });
    expect(
      (await again.operator.checkIntegrity({ liveBonds: [{ taskId: 'w1', agent: 'dave', amount: lock.amount }] })).ok,
    ).toBe(true);
  } finally {
    await again.close();
  }
});

test('a journal record torn by a crash mid-append is dropped, and the next send starts a line of its own', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  await env.operator.stakeInit({ agent: 'fay', amount: 5_000_000 });
  // The first lock also sets the program's stake rule (a transaction of its own): done before the count.
  await env.activities.lockBond({ taskId: 'f0', agent: 'fay', depth: 0, stake: STAKE });
  const before = await balances(env, 'fay', 'none');
  await crash(env);
  const journalFile = journalFileFor(env.accountsFile);
  const records = lines(journalFile).length;
  fs.appendFileSync(journalFile, '{"j":99,"seq":99,"accounts":[{"addr');

  const warnings: string[] = [];
  const again = await reopen(dir, { warn: (m) => warnings.push(m) });
  try {
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`${escape(journalFile)} line ${records + 1}\\b.*cut short`)),
    ]);
    expect(await balances(again, 'fay', 'none')).toEqual(before);
    await again.activities.lockBond({ taskId: 'f1', agent: 'fay', depth: 0, stake: STAKE });
    expect(lines(journalFile)).toHaveLength(records + 1);
    for (const line of lines(journalFile)) expect(() => JSON.parse(line)).not.toThrow();
  } finally {
    await again.close();
  }
});

test('every compactEvery records the whole state becomes the snapshot and the journal starts again; a crash between the two writes replays nothing twice', async () => {
  const dir = tempDir();
  const first = await embeddedEnv(dir); // a new system: its set-up makes the authority key
  await first.operator.stakeInit({ agent: 'gus', amount: 50_000_000 });
  const { bondAddress } = await first.activities.lockBond({ taskId: 'g1', agent: 'gus', depth: 0, stake: STAKE });
  const journalFile = journalFileFor(first.accountsFile);
  const olderJournal = fs.readFileSync(journalFile, 'utf8');
  const records = lines(journalFile).length;
  await crash(first);
  // Reopened with room for one more record: the release's transaction compacts.
  const env = await reopen(dir, { compactEvery: records + 1 });
  await env.activities.releaseBond({ taskId: 'g1', agent: 'gus', reason: 'ok' });
  const snapshot = JSON.parse(fs.readFileSync(env.accountsFile, 'utf8')) as {
    journal: number;
    accounts: Array<{ address: string }>;
  };
  expect(snapshot.journal).toBeGreaterThan(records);
  expect(lines(journalFile).length).toBeLessThan(records);
  expect(snapshot.accounts.map((a) => a.address)).not.toContain(bondAddress); // released: the bond account is closed
  const before = await balances(env, 'gus', 'g1');
  // A crash after the snapshot was written but before the journal was emptied leaves records it holds.
  await crash(env);
  fs.writeFileSync(journalFile, olderJournal);

  const again = await reopen(dir);
  try {
    expect(await balances(again, 'gus', 'g1')).toEqual(before); // record 3's lock is not applied again
    expect((await again.operator.stakeStatus({ agent: 'gus' })).agents[0]).toMatchObject({ locked_in_bonds: 0 });
    expect((await again.operator.checkIntegrity({ liveBonds: [] })).ok).toBe(true);
  } finally {
    await again.close();
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

  const warnings: string[] = [];
  const again = await reopen(dir, { warn: (m) => warnings.push(m) });
  try {
    expect(fs.readFileSync(historyFile, 'utf8').trim().split('\n')).toHaveLength(lines.length);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`${escape(historyFile)} line ${lines.length + 2}\\b.*cut short`)),
        expect.stringMatching(new RegExp(`${escape(historyFile)} line ${lines.length + 1}\\b.*never written`)),
      ]),
    );
    expect((await again.operator.stakeStatus({ agent: 'erin' })).agents[0]).toMatchObject({
      deposited: 5_000_000,
      withdrawn: 0,
    });
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

/** A log damaged anywhere but at its end is not what a crash leaves: the chain refuses it and says where. */
async function expectRefused(dir: string, file: string, line: number): Promise<void> {
  const bytes = fs.readFileSync(file);
  const warnings: string[] = [];
  await expect(reopen(dir, { warn: (m) => warnings.push(m) })).rejects.toThrow(
    new RegExp(`${escape(file)} line ${line}\\b[^]*back ?up`),
  );
  expect(fs.readFileSync(file).equals(bytes)).toBe(true); // left as it was, for whoever repairs it
  expect(warnings).toEqual([]);
}

test('a corrupt record in the middle of the history refuses to open, naming the file and the line', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  await env.operator.stakeInit({ agent: 'hal', amount: 5_000_000 });
  await env.activities.lockBond({ taskId: 'h1', agent: 'hal', depth: 0, stake: STAKE });
  await env.close();
  const historyFile = historyFileFor(env.accountsFile);
  const history = lines(historyFile);
  expect(history.length).toBeGreaterThanOrEqual(3);
  history[1] = history[1]!.slice(0, 40); // line 2 cut short, with whole records after it
  fs.writeFileSync(historyFile, `${history.join('\n')}\n`);
  await expectRefused(dir, historyFile, 2);
  // Valid JSON that is not a history record in sequence is damage too.
  const swapped = lines(historyFile);
  swapped[1] = swapped[0]!; // a record repeated: its seq is not after the one before it
  fs.writeFileSync(historyFile, `${swapped.join('\n')}\n`);
  await expectRefused(dir, historyFile, 2);
});

test('a record in the middle of the journal that is not a journal record refuses to open, naming the file and the line', async () => {
  const dir = tempDir();
  const env = await embeddedEnv(dir);
  await env.operator.stakeInit({ agent: 'ivy', amount: 5_000_000 });
  await env.activities.lockBond({ taskId: 'i1', agent: 'ivy', depth: 0, stake: STAKE });
  await crash(env);
  const journalFile = journalFileFor(env.accountsFile);
  const journal = lines(journalFile);
  expect(journal.length).toBeGreaterThanOrEqual(3);
  journal[2] = JSON.stringify({ j: JSON.parse(journal[2]!).j }); // parses, but holds no accounts
  fs.writeFileSync(journalFile, `${journal.join('\n')}\n`);
  await expectRefused(dir, journalFile, 3);
});
