/**
 * The custody program in the SVM: built from source (programs/custody), deployed for real through the
 * upgradeable loader into the embedded chain, then every instruction's success and every refusal the
 * issue lists, with lamports conserved throughout and the compute units each instruction used written to
 * test-results/custody-compute-units.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Keypair, PublicKey, SystemProgram, Transaction, type TransactionInstruction } from '@solana/web3.js';
import { BankrunChain } from '../../activities/chain';
import { deployProgram } from '../../activities/chain/program-deploy';
import { Custody, taskHash, type ConfigRules } from '../../activities/chain/custody/instructions';
import {
  BOND,
  CONFIG,
  RECORD,
  VAULT,
  decodeBond,
  decodeConfig,
  decodeRecord,
  decodeVault,
  recordLen,
} from '../../activities/chain/custody/layout';
import { custodyError } from '../../activities/chain/custody/errors';
import { buildProgram } from '../../programs/build/build-program';
import { tempDir } from './helpers';

jest.setTimeout(120_000);

const RULES: ConfigRules = {
  treasuryShareBps: 5_000,
  slashBps: { execution_failed: 1_000, proof_failed: 2_500, proof_timeout: 0, other: 10_000 },
  minStake: 1_000_000,
  stakePerDepth: 500_000,
  maxStake: 3_000_000,
  bondExpirySecs: 3_600,
  recordRetentionSecs: 0,
};

let chain: BankrunChain;
let custody: Custody;
const authority = Keypair.generate();
const treasury = Keypair.generate();
const [alice, bob, carol] = [Keypair.generate(), Keypair.generate(), Keypair.generate()];
const computeUnits: Record<string, number[]> = {};

async function send(what: string, ixs: TransactionInstruction | TransactionInstruction[], signers: Keypair[]) {
  const tx = new Transaction().add(...(Array.isArray(ixs) ? ixs : [ixs]));
  const { signature } = await chain.send(tx, signers);
  const logs = (await chain.getTransactionLogs(signature)) ?? [];
  for (const line of logs) {
    const m = new RegExp(`Program ${custody.programId.toBase58()} consumed (\\d+) of`).exec(line);
    if (m) (computeUnits[what] ??= []).push(Number(m[1]));
  }
  return signature;
}

/** The custody error a refused transaction carried (its name), or a failure if it was not refused by the program. */
async function refusal(ixs: TransactionInstruction | TransactionInstruction[], signers: Keypair[]): Promise<string> {
  const before = await lamportsEverywhere();
  try {
    await send('refused', ixs, signers);
  } catch (err) {
    const text = `${(err as Error).message} ${((err as { logs?: string[] }).logs ?? []).join(' ')}`;
    // A refusal moves nothing but the fee payer's fee.
    const after = await lamportsEverywhere();
    expect(after.total + FEE_SLACK).toBeGreaterThanOrEqual(before.total);
    return custodyError(text)?.name ?? text;
  }
  throw new Error('the transaction was not refused');
}
const FEE_SLACK = 10_000;

const rent = (len: number) => chain.rentExemptMinimum(len);
const data = async (address: PublicKey) => {
  const a = await chain.getAccount(address);
  if (!a) throw new Error(`no account at ${address.toBase58()}`);
  return a.data;
};

/** Every lamport this test's parties and the program's accounts hold. */
async function lamportsEverywhere(): Promise<{ total: number }> {
  const parties = [authority, treasury, alice, bob, carol].map((k) => k.publicKey);
  const vaults = await Promise.all([alice, bob, carol].map((k) => custody.vault(k.publicKey)));
  const bonds = await Promise.all(['t-root', 't-child', 't-b', 't-expire', 't-big'].map((t) => custody.bond(t)));
  const records = await Promise.all(['r-root', 'r-child', 'r-failed', 'r-orphan'].map((t) => custody.record(t)));
  const all = [...parties, ...vaults, ...bonds, ...records, custody.config];
  const amounts = await Promise.all(all.map((a) => chain.getLamports(a)));
  return { total: amounts.reduce((s, x) => s + x, 0) };
}

beforeAll(async () => {
  const dir = tempDir();
  const { soPath } = await buildProgram('custody');
  chain = await BankrunChain.open({ accountsFile: path.join(dir, 'chain', 'svm-accounts.json') });
  for (const k of [authority, alice, bob, carol]) await chain.airdrop(k.publicKey, 50_000_000_000);
  await chain.airdrop(treasury.publicKey, await chain.rentExemptMinimum(0));
  const programKeypair = Keypair.generate();
  const { programId } = await deployProgram(chain, authority, programKeypair, fs.readFileSync(soPath));
  custody = await Custody.at(programId, authority.publicKey);
});

afterAll(async () => {
  await chain?.close();
  const summary = Object.fromEntries(
    Object.entries(computeUnits)
      .filter(([k]) => k !== 'refused')
      .map(([k, v]) => [k, { min: Math.min(...v), max: Math.max(...v), samples: v.length }]),
  );
  fs.mkdirSync('test-results', { recursive: true });
  fs.writeFileSync('test-results/custody-compute-units.json', `${JSON.stringify(summary, null, 2)}\n`);
});

describe('config', () => {
  test('a percentage above 100% is refused at init', async () => {
    const bad = { ...RULES, slashBps: { ...RULES.slashBps, proof_failed: 10_001 } };
    const ixs = custody.configure({
      treasury: treasury.publicKey,
      rules: bad,
      create: { rentLamports: await rent(CONFIG.len) },
    });
    expect(await refusal(ixs, [authority])).toBe('PercentageOutOfRange');
  });

  test('init sets the rules; the authority and treasury are the ones given', async () => {
    const ixs = custody.configure({
      treasury: treasury.publicKey,
      rules: RULES,
      create: { rentLamports: await rent(CONFIG.len) },
    });
    await send('init_config', ixs, [authority]);
    const c = decodeConfig(await data(custody.config));
    expect(c.authority.equals(authority.publicKey)).toBe(true);
    expect(c.treasury.equals(treasury.publicKey)).toBe(true);
    expect(c.slashBps).toEqual(RULES.slashBps);
    expect([c.minStake, c.stakePerDepth, c.maxStake]).toEqual([1_000_000n, 500_000n, 3_000_000n]);
  });

  test('update: by the authority only, percentages in range, min ≤ max', async () => {
    const other = await Custody.at(custody.programId, alice.publicKey);
    const byAlice = custody.configure({ treasury: treasury.publicKey, rules: RULES });
    // Alice signs in the authority's place: the instruction names the config's authority key, which did not sign.
    const forged = byAlice.map((ix) => ({
      ...ix,
      keys: ix.keys.map((k) => (k.pubkey.equals(authority.publicKey) ? { ...k, pubkey: alice.publicKey } : k)),
    }));
    expect(await refusal(forged as TransactionInstruction[], [alice])).toBe('WrongAuthority');
    expect(other.config.equals(custody.config)).toBe(false);
    expect(
      await refusal(
        custody.configure({ treasury: treasury.publicKey, rules: { ...RULES, treasuryShareBps: 20_000 } }),
        [authority],
      ),
    ).toBe('PercentageOutOfRange');
    expect(
      await refusal(
        custody.configure({ treasury: treasury.publicKey, rules: { ...RULES, minStake: 5, maxStake: 4 } }),
        [authority],
      ),
    ).toBe('InvalidStakeRule');
    await send('update_config', custody.configure({ treasury: treasury.publicKey, rules: RULES }), [authority]);
  });
});

describe('stake', () => {
  test('deposit: the agent signs, the vault is created with its rent reserve and counts the deposit', async () => {
    for (const agent of [alice, bob, carol]) {
      await send(
        'deposit_first',
        await custody.deposit({
          agent: agent.publicKey,
          amount: 10_000_000,
          create: { rentLamports: await rent(VAULT.len) },
        }),
        [authority, agent],
      );
    }
    await send('deposit', await custody.deposit({ agent: alice.publicKey, amount: 2_000_000 }), [authority, alice]);
    const v = decodeVault(await data(await custody.vault(alice.publicKey)));
    expect(v.agent.equals(alice.publicKey)).toBe(true);
    expect(v.deposited).toBe(12_000_000n);
    expect(v.reserve).toBe(BigInt(await rent(VAULT.len)));
    expect(v.delegated).toBe(true);
  });

  test("depositing into another agent's vault is refused", async () => {
    const ixs = await custody.deposit({ agent: alice.publicKey, amount: 1 });
    // Bob signs Alice's deposit instruction in her place.
    ixs[ixs.length - 1]!.keys[1] = { pubkey: bob.publicKey, isSigner: true, isWritable: true };
    ixs[0] = SystemProgram.transfer({
      fromPubkey: bob.publicKey,
      toPubkey: await custody.vault(alice.publicKey),
      lamports: 1,
    });
    expect(await refusal(ixs, [authority, bob])).toBe('WrongAgent');
  });

  test('withdraw: only the agent, only what is available', async () => {
    const vault = await custody.vault(alice.publicKey);
    const byBob = await custody.withdraw({ agent: alice.publicKey, amount: 1, to: bob.publicKey });
    byBob.keys[1] = { pubkey: bob.publicKey, isSigner: true, isWritable: false };
    expect(await refusal(byBob, [authority, bob])).toBe('WrongAgent');
    expect(
      await refusal(await custody.withdraw({ agent: alice.publicKey, amount: 12_000_001 }), [authority, alice]),
    ).toBe('InsufficientStake');
    const before = await chain.getLamports(alice.publicKey);
    await send('withdraw', await custody.withdraw({ agent: alice.publicKey, amount: 1_000_000 }), [authority, alice]);
    expect(await chain.getLamports(alice.publicKey)).toBe(before + 1_000_000);
    expect(decodeVault(await data(vault)).withdrawn).toBe(1_000_000n);
  });
});

describe('bonds', () => {
  test('bond: the rule decides the amount, one bond per task attempt, only the authority', async () => {
    const vault = await custody.vault(alice.publicKey);
    const stakeBefore = await chain.getLamports(vault);
    await send(
      'bond',
      await custody.lock({ agent: alice.publicKey, taskId: 't-root', depth: 2, rentLamports: await rent(BOND.len) }),
      [authority],
    );
    const b = decodeBond(await data(await custody.bond('t-root')));
    expect(b.amount).toBe(2_000_000n); // 1,000,000 + 2 × 500,000
    expect(b.task.equals(taskHash('t-root'))).toBe(true);
    expect(stakeBefore - (await chain.getLamports(vault))).toBe(2_000_000);
    expect(decodeVault(await data(vault)).bonded).toBe(2_000_000n);
    // The same attempt again: its address is taken (System refuses the creation).
    const again = await refusal(
      await custody.lock({ agent: alice.publicKey, taskId: 't-root', depth: 2, rentLamports: await rent(BOND.len) }),
      [authority],
    );
    expect(again).toMatch(/already in use|0x0/);
    // A depth past the cap bonds max_stake.
    await send(
      'bond',
      await custody.lock({ agent: bob.publicKey, taskId: 't-b', depth: 100, rentLamports: await rent(BOND.len) }),
      [authority],
    );
    expect(decodeBond(await data(await custody.bond('t-b'))).amount).toBe(3_000_000n);
  });

  test('bond: refused for another signer, a wrong address, or too little stake', async () => {
    const mallory = Keypair.generate();
    await chain.airdrop(mallory.publicKey, 1_000_000_000);
    const rentLamports = await rent(BOND.len);
    // Mallory creates the bond account at her own derived address and signs in the authority's place.
    const mine = await Custody.at(custody.programId, mallory.publicKey);
    const ixs = await mine.lock({ agent: alice.publicKey, taskId: 't-mallory', depth: 0, rentLamports });
    const bondIx = ixs[ixs.length - 1]!;
    bondIx.keys[0] = { pubkey: custody.config, isSigner: false, isWritable: false };
    bondIx.keys[2] = { pubkey: await custody.vault(alice.publicKey), isSigner: false, isWritable: true };
    expect(await refusal(ixs, [mallory])).toBe('WrongAuthority');
    // The authority with the bond at another task's address.
    const wrong = await custody.lock({ agent: alice.publicKey, taskId: 't-x', depth: 0, rentLamports });
    wrong[wrong.length - 1]!.data.set(taskHash('t-y'), 1);
    expect(await refusal(wrong, [authority])).toBe('WrongAddress');
    // More than the vault holds above its reserve.
    await send('withdraw', await custody.withdraw({ agent: carol.publicKey, amount: 9_500_000 }), [authority, carol]);
    expect(
      await refusal(await custody.lock({ agent: carol.publicKey, taskId: 't-big', depth: 0, rentLamports }), [
        authority,
      ]),
    ).toBe('InsufficientStake');
  });

  test('bonded lamports cannot be withdrawn', async () => {
    const v = decodeVault(await data(await custody.vault(alice.publicKey)));
    const available = BigInt(await chain.getLamports(await custody.vault(alice.publicKey))) - v.reserve;
    expect(
      await refusal(await custody.withdraw({ agent: alice.publicKey, amount: available + v.bonded }), [
        authority,
        alice,
      ]),
    ).toBe('InsufficientStake');
  });

  test('release: the whole bond back, its rent to the authority, exactly once', async () => {
    const vault = await custody.vault(bob.publicKey);
    const before = await chain.getLamports(vault);
    await send('release', await custody.release({ agent: bob.publicKey, taskId: 't-b' }), [authority]);
    expect((await chain.getLamports(vault)) - before).toBe(3_000_000);
    expect(await chain.getAccount(await custody.bond('t-b'))).toBeNull();
    expect(await refusal(await custody.release({ agent: bob.publicKey, taskId: 't-b' }), [authority])).toBe(
      'BondNotLocked',
    );
    expect(
      await refusal(
        await custody.slash({ agent: bob.publicKey, taskId: 't-b', reason: 'other', treasury: treasury.publicKey }),
        [authority],
      ),
    ).toBe('BondNotLocked');
  });

  test('slash: the reason’s percentage, the treasury’s share, victims by weight; refused for a wrong treasury', async () => {
    await send(
      'bond',
      await custody.lock({ agent: bob.publicKey, taskId: 't-child', depth: 0, rentLamports: await rent(BOND.len) }),
      [authority],
    );
    const notTreasury = await custody.slash({
      agent: alice.publicKey,
      taskId: 't-root',
      reason: 'proof_failed',
      treasury: bob.publicKey,
    });
    expect(await refusal(notTreasury, [authority])).toBe('WrongTreasury');
    const byAlice = await custody.slash({
      agent: alice.publicKey,
      taskId: 't-root',
      reason: 'proof_failed',
      treasury: treasury.publicKey,
    });
    byAlice.keys[1] = { pubkey: alice.publicKey, isSigner: true, isWritable: true };
    byAlice.keys[4] = { pubkey: authority.publicKey, isSigner: false, isWritable: true };
    expect(await refusal(byAlice, [alice])).toBe('WrongAuthority');

    const [aliceVault, bobVault, carolVault] = (await Promise.all(
      [alice, bob, carol].map((k) => custody.vault(k.publicKey)),
    )) as [PublicKey, PublicKey, PublicKey];
    const before = await Promise.all(
      [aliceVault, bobVault, carolVault, treasury.publicKey].map((a) => chain.getLamports(a)),
    );
    // Alice's 2,000,000 bond, proof_failed (25%): 500,000 slashed, half to the treasury, half to Bob and Carol 3:1.
    const ix = await custody.slash({
      agent: alice.publicKey,
      taskId: 't-root',
      reason: 'proof_failed',
      treasury: treasury.publicKey,
      victims: [
        { agent: bob.publicKey, weight: 3 },
        { agent: carol.publicKey, weight: 1 },
      ],
    });
    await send('slash', ix, [authority]);
    const after = await Promise.all(
      [aliceVault, bobVault, carolVault, treasury.publicKey].map((a) => chain.getLamports(a)),
    );
    expect(after.map((x, i) => x - before[i]!)).toEqual([1_500_000, 187_500, 62_500, 250_000]);
    expect(decodeVault(await data(aliceVault)).slashed).toBe(500_000n);
    expect(decodeVault(await data(bobVault)).compensated).toBe(187_500n);
    expect(await refusal(await custody.release({ agent: alice.publicKey, taskId: 't-root' }), [authority])).toBe(
      'BondNotLocked',
    );
  });

  test('expiry: the agent takes back a bond the authority left unsettled, but not before it expires', async () => {
    await send('deposit', await custody.deposit({ agent: carol.publicKey, amount: 5_000_000 }), [authority, carol]);
    await send(
      'bond',
      await custody.lock({ agent: carol.publicKey, taskId: 't-expire', depth: 0, rentLamports: await rent(BOND.len) }),
      [authority],
    );
    expect(await refusal(await custody.expireRelease({ agent: carol.publicKey, taskId: 't-expire' }), [carol])).toBe(
      'NotExpired',
    );
    await chain.warpClock(3_601);
    const byBob = await custody.expireRelease({ agent: carol.publicKey, taskId: 't-expire' });
    byBob.keys[1] = { pubkey: bob.publicKey, isSigner: true, isWritable: true };
    expect(await refusal(byBob, [bob])).toBe('WrongAgent');
    const vault = await custody.vault(carol.publicKey);
    const before = await chain.getLamports(vault);
    await send('expire_release', await custody.expireRelease({ agent: carol.publicKey, taskId: 't-expire' }), [carol]);
    expect((await chain.getLamports(vault)) - before).toBe(1_000_000);
  });
});

describe('commitment records', () => {
  const commitment = Buffer.alloc(32, 7);
  const vkeyHash = Buffer.alloc(32, 9);
  const commitTask = async (taskId: string, parentTaskIds: string[]) =>
    custody.commit({
      taskId,
      agent: alice.publicKey,
      commitment,
      vkeyHash,
      parentTaskIds,
      rentLamports: await rent(recordLen(parentTaskIds.length)),
    });

  test('a child before its parent is refused: ancestor order is the chain’s rule', async () => {
    expect(await refusal(await commitTask('r-child', ['r-root']), [authority])).toBe('ParentMissing');
  });

  test('root, then child: each record holds its content and its parents', async () => {
    await send('commit', await commitTask('r-root', []), [authority]);
    await send('commit', await commitTask('r-child', ['r-root']), [authority]);
    const r = decodeRecord(await data(await custody.record('r-child')));
    expect(r.status).toBe('pending');
    expect(r.commitment.equals(commitment)).toBe(true);
    expect(r.parents.map((p) => p.toBase58())).toEqual([(await custody.record('r-root')).toBase58()]);
    expect((await data(await custody.record('r-child'))).length).toBe(RECORD.headerLen + 32);
    expect(await refusal(await commitTask('r-root', []), [authority])).toMatch(/already in use|0x0/);
  });

  test('a record at another task’s address is refused', async () => {
    const ixs = await commitTask('r-orphan', []);
    ixs[ixs.length - 1]!.data.set(taskHash('r-elsewhere'), 1);
    expect(await refusal(ixs, [authority])).toBe('WrongAddress');
  });

  test('settle once; a failed parent refuses children; close after settlement returns the rent', async () => {
    expect(await refusal(await custody.closeRecord({ taskId: 'r-root' }), [authority])).toBe('RecordNotSettled');
    await send('settle_record', await custody.settleRecord({ taskId: 'r-root', status: 'confirmed' }), [authority]);
    expect(await refusal(await custody.settleRecord({ taskId: 'r-root', status: 'failed' }), [authority])).toBe(
      'RecordNotPending',
    );
    await send('commit', await commitTask('r-failed', []), [authority]);
    await send('settle_record', await custody.settleRecord({ taskId: 'r-failed', status: 'failed' }), [authority]);
    expect(await refusal(await commitTask('r-orphan', ['r-failed']), [authority])).toBe('ParentFailed');
    const before = await chain.getLamports(authority.publicKey);
    const held = await chain.getLamports(await custody.record('r-root'));
    await send('close_record', await custody.closeRecord({ taskId: 'r-root' }), [authority]);
    expect(await chain.getAccount(await custody.record('r-root'))).toBeNull();
    expect((await chain.getLamports(authority.publicKey)) - before).toBe(held - 5_000);
  });
});
