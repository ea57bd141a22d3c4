/** The project's base58 against web3.js's own (PublicKey uses bs58): the same text, both ways. */
import { Keypair, PublicKey } from '@solana/web3.js';
import { decodeBase58, encodeBase58 } from '../../activities/chain/base58';

test('encodes and decodes as web3.js does, leading zero bytes included', () => {
  const keys = [
    Keypair.generate().publicKey,
    new PublicKey(new Uint8Array(32)),
    new PublicKey(Uint8Array.from([0, 0, 7, ...new Array<number>(29).fill(255)])),
  ];
  for (const key of keys) {
    expect(encodeBase58(key.toBytes())).toBe(key.toBase58());
    expect([...decodeBase58(key.toBase58())]).toEqual([...key.toBytes()]);
  }
});

test('a character outside the alphabet is refused, naming it', () => {
  expect(() => decodeBase58('abc0')).toThrow('invalid base58 character "0"');
});
