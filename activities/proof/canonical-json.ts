import { createHash } from 'node:crypto';

/** JSON with object keys sorted recursively and no whitespace, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as Record<string, unknown>)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON of a verification key: the key's identity in every proof record. */
export function verificationKeyHash(vk: unknown): string {
  return createHash('sha256').update(canonicalJson(vk), 'utf8').digest('hex');
}
