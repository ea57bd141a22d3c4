/** Base58 (Bitcoin alphabet), the encoding of Solana signatures. Kept here to avoid depending on a transitive package. */
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function encodeBase58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

export function decodeBase58(encoded: string): Buffer {
  let n = 0n;
  for (const ch of encoded) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) throw new Error(`invalid base58 character ${JSON.stringify(ch)}`);
    n = n * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  for (; n > 0n; n /= 256n) bytes.unshift(Number(n % 256n));
  const zeros = encoded.length - encoded.replace(/^1+/, '').length;
  return Buffer.from([...new Array<number>(zeros).fill(0), ...bytes]);
}
