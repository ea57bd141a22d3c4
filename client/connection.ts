/**
 * How every client of the project (the CLI, the admin API, scripts, tests) reaches Temporal:
 * `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, and for a cluster with TLS `TEMPORAL_TLS_CERT` /
 * `TEMPORAL_TLS_KEY` (mTLS) or `TEMPORAL_API_KEY` (Temporal Cloud).
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { temporalAddress, temporalNamespace } from '../workers/temporal-dev-server';

export function connectionOptions(address = temporalAddress()): ConnectionOptions {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_API_KEY: apiKey } = process.env;
  const tls = cert && key ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } } : apiKey ? true : undefined;
  return { address, tls, apiKey, connectTimeout: 5000 };
}

export async function connectClient(opts: { address?: string; namespace?: string } = {}): Promise<Client> {
  const address = opts.address ?? temporalAddress();
  let connection: Connection;
  try {
    connection = await Connection.connect(connectionOptions(address));
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${address}: ${(err as Error).message}. Start the system with \`npm start\` ` +
        '(or `npm run temporal`), or set TEMPORAL_ADDRESS to your cluster.',
    );
  }
  return new Client({ connection, namespace: opts.namespace ?? temporalNamespace() });
}
