/**
 * Key files (activities/chain/keys.ts) as an operator may find them on disk: created mode 600 in a
 * directory only the owner can enter, and a key file that group or others can read (copied in with a
 * default umask, say) refused with the file, its mode and the fix, never used to sign. The protocol
 * authority is made only on purpose: a missing authority.json is refused by the key store and by a
 * worker starting on it, and made by the embedded chain's first start alone.
 */
import { spawn } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { BankrunChain, createStakeOperator } from '../../activities/chain';
import { initialiseAuthority, KeyStore } from '../../activities/chain/keys';
import { ensureNamespace } from '../../workers/temporal-dev-server';
import { PROJECT_ROOT, testRunDir } from '../helpers/paths';

const modeOf = (file: string) => statSync(file).mode & 0o777;

let dir: string;
beforeEach(() => {
  dir = path.join(mkdtempSync(path.join(testRunDir(), 'keys-')), 'keys');
});

test('new key files are mode 600, their directories 700', () => {
  const store = new KeyStore(dir);
  store.createAuthority();
  store.treasury();
  store.agent('alice', { create: true });
  expect([dir, path.join(dir, 'agents')].map(modeOf)).toEqual([0o700, 0o700]);
  expect(['authority.json', 'treasury.json', 'agents/alice.json'].map((f) => modeOf(path.join(dir, f)))).toEqual([
    0o600, 0o600, 0o600,
  ]);
});

test.each([0o644, 0o640, 0o604, 0o660, 0o666])(
  'a key file of mode %o is refused, naming the file, the mode and chmod 600',
  (mode) => {
    const publicKey = new KeyStore(dir).agent('alice', { create: true }).publicKey.toBase58();
    const file = path.join(dir, 'agents', 'alice.json');
    chmodSync(file, mode);
    expect(() => new KeyStore(dir).agent('alice')).toThrow(
      `key file ${file} has mode ${mode.toString(8)}: a secret key must be readable by its owner only; run \`chmod 600 ${file}\``,
    );
    chmodSync(file, 0o600);
    expect(new KeyStore(dir).agent('alice').publicKey.toBase58()).toBe(publicKey);
  },
);

test('the authority key is checked the same way', () => {
  new KeyStore(dir).createAuthority();
  chmodSync(path.join(dir, 'authority.json'), 0o644);
  expect(() => new KeyStore(dir).authority()).toThrow(/authority\.json has mode 644/);
});

/** What every refusal of a missing authority says: the file, and what makes one on purpose. */
function expectMissingAuthority(message: string, file: string): void {
  expect(message).toContain(`no protocol authority key at ${file}`);
  expect(message).toContain('restore authority.json from its backup');
}

test('a keys directory without authority.json is refused, naming the file and what makes one; nothing is made', () => {
  // A keys directory in use (an agent wallet, the treasury) whose authority key is gone.
  const store = new KeyStore(dir);
  store.agent('alice', { create: true });
  store.treasury();
  const file = path.join(dir, 'authority.json');
  expect(() => store.authority()).toThrow(`no protocol authority key at ${file}`);
  let message = '';
  try {
    new KeyStore(dir).authority();
  } catch (err) {
    message = (err as Error).message;
  }
  expectMissingAuthority(message, file);
  expect(message).toContain('`npm start`');
  expect(message).toContain(`\`solana-keygen new --no-bip39-passphrase -o ${file}\``);
  expect(existsSync(file)).toBe(false);
});

test("the embedded chain's first start makes the authority once; later starts keep it", () => {
  const base = mkdtempSync(path.join(testRunDir(), 'first-start-'));
  const at = {
    keysDir: path.join(base, 'keys'),
    accountsFile: path.join(base, 'chain', 'svm-accounts.json'),
    rpcUrl: '',
  };
  const first = initialiseAuthority(at);
  expect(first.created).toBe(true);
  expect(modeOf(path.join(at.keysDir, 'authority.json'))).toBe(0o600);
  const again = initialiseAuthority(at);
  expect(again).toEqual({ authority: first.authority, created: false });
  expect(new KeyStore(at.keysDir).authority().publicKey.toBase58()).toBe(first.authority.toBase58());
});

test('on a cluster, a missing authority is refused at start-up: it is made and funded by the operator', () => {
  const at = { keysDir: dir, rpcUrl: 'http://127.0.0.1:1' };
  expect(() => initialiseAuthority(at)).toThrow(`no protocol authority key at ${path.join(dir, 'authority.json')}`);
  expect(existsSync(path.join(dir, 'authority.json'))).toBe(false);
});

describe('a worker whose embedded chain has state but whose authority key is gone', () => {
  let base: string;
  let keysDir: string;
  let chainFile: string;
  beforeAll(async () => {
    // A system that has run: its authority made at first start, an agent staked under it.
    base = mkdtempSync(path.join(testRunDir(), 'lost-authority-'));
    keysDir = path.join(base, 'keys');
    chainFile = path.join(base, 'chain', 'svm-accounts.json');
    initialiseAuthority({ keysDir, accountsFile: chainFile, rpcUrl: '' });
    const chain = await BankrunChain.open({ accountsFile: chainFile });
    try {
      await createStakeOperator({ chain, keys: new KeyStore(keysDir) }).stakeInit({
        agent: 'default',
        amount: 10_000_000,
      });
    } finally {
      await chain.close();
    }
    rmSync(path.join(keysDir, 'authority.json'));
  });

  it('refuses in the key store, naming the chain files and both ways on', () => {
    let message = '';
    try {
      initialiseAuthority({ keysDir, accountsFile: chainFile, rpcUrl: '' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(
      `no protocol authority key at ${path.join(keysDir, 'authority.json')}, but the embedded chain already has state (${chainFile}`,
    );
    expect(message).toContain('restore authority.json from its backup');
    expect(message).toContain('move those chain files away to start a new embedded chain');
    expect(existsSync(path.join(keysDir, 'authority.json'))).toBe(false);
  });

  it('`npm run worker` (workers/main.ts) refuses to start, exit 1, and makes no key', async () => {
    // A namespace it could serve, so that a worker that does not refuse would start and be seen doing so.
    const namespace = `key-files-${process.pid}`;
    const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
    await ensureNamespace(connection, namespace);
    await connection.close();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'workers/main.ts', '--queues', 'agenc-tasks', '--http-port', 'off'],
      {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          AGENC_KEYS_DIR: keysDir,
          AGENC_CHAIN_FILE: chainFile,
          SOLANA_RPC_URL: '',
          TEMPORAL_NAMESPACE: namespace,
          RUST_LOG: 'error',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const started = setTimeout(() => {
        // Still running: it started without its authority key. Stop it; the expectation below says so.
        child.kill('SIGKILL');
      }, 45_000);
      child.once('exit', (c) => {
        clearTimeout(started);
        resolve(c);
      });
    });
    expect({
      code,
      refusal: /no protocol authority key at .*, but the embedded chain already has state/.test(output),
    }).toEqual({ code: 1, refusal: true });
    expect(output).toContain(path.join(keysDir, 'authority.json'));
    expect(existsSync(path.join(keysDir, 'authority.json'))).toBe(false);
  }, 60_000);
});
