/**
 * Where Temporal is and how to authenticate to it, from the environment: `TEMPORAL_ADDRESS`,
 * `TEMPORAL_NAMESPACE`, and for a cluster with TLS `TEMPORAL_TLS_CERT` / `TEMPORAL_TLS_KEY` (mTLS) or
 * `TEMPORAL_API_KEY` (Temporal Cloud); `TEMPORAL_TLS_CA` when the server's certificate is issued by a
 * private CA rather than one the system trusts. The CLI, the workers and the dev server launcher all
 * read them here.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

export function temporalAddress(): string {
  return process.env.TEMPORAL_ADDRESS ?? DEFAULT_TEMPORAL_ADDRESS;
}

export function temporalNamespace(): string {
  return process.env.TEMPORAL_NAMESPACE ?? 'default';
}

/** TLS and API key from the environment, in the shape both Connection and the worker's NativeConnection take. */
export function temporalAuth(env: NodeJS.ProcessEnv = process.env): { tls?: TLSConfig; apiKey?: string } {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca, TEMPORAL_API_KEY: apiKey } = env;
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error(
      `mTLS needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY; only ${cert ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY'} is set`,
    );
  }
  if (!cert && !ca && !apiKey) return {};
  const tls: TLSConfig = {
    ...(cert && key ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } } : {}),
    ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
  };
  return { tls, ...(apiKey ? { apiKey } : {}) };
}
