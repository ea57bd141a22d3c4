/**
 * Key files (activities/chain/keys.ts) as an operator may find them on disk: created mode 600 in a
 * directory only the owner can enter, and a key file that group or others can read (copied in with a
 * default umask, say) refused with the file, its mode and the fix, never used to sign.
 */
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { KeyStore } from '../../activities/chain/keys';
import { testRunDir } from '../helpers/paths';

const modeOf = (file: string) => statSync(file).mode & 0o777;

let dir: string;
beforeEach(() => {
  dir = path.join(mkdtempSync(path.join(testRunDir(), 'keys-')), 'keys');
});

test('new key files are mode 600, their directories 700', () => {
  const store = new KeyStore(dir);
  store.authority();
  store.treasury();
  store.agent('alice', { create: true });
  expect([dir, path.join(dir, 'agents')].map(modeOf)).toEqual([0o700, 0o700]);
  expect(['authority.json', 'treasury.json', 'agents/alice.json'].map((f) => modeOf(path.join(dir, f)))).toEqual([0o600, 0o600, 0o600]);
});

test.each([0o644, 0o640, 0o604, 0o660, 0o666])('a key file of mode %o is refused, naming the file, the mode and chmod 600', (mode) => {
  const publicKey = new KeyStore(dir).agent('alice', { create: true }).publicKey.toBase58();
  const file = path.join(dir, 'agents', 'alice.json');
  chmodSync(file, mode);
  expect(() => new KeyStore(dir).agent('alice')).toThrow(
    `key file ${file} has mode ${mode.toString(8)}: a secret key must be readable by its owner only; run \`chmod 600 ${file}\``,
  );
  chmodSync(file, 0o600);
  expect(new KeyStore(dir).agent('alice').publicKey.toBase58()).toBe(publicKey);
});

test('the authority key is checked the same way', () => {
  new KeyStore(dir).authority();
  chmodSync(path.join(dir, 'authority.json'), 0o644);
  expect(() => new KeyStore(dir).authority()).toThrow(/authority\.json has mode 644/);
});
