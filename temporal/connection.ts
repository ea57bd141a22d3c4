/**
 * How every client of the project (the CLI, the admin API, scripts, tests) and the workers reach
 * Temporal: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, and for a cluster with TLS `TEMPORAL_TLS_CERT` /
 * `TEMPORAL_TLS_KEY` (mTLS) or `TEMPORAL_API_KEY` (Temporal Cloud); `TEMPORAL_TLS_CA` when the
 * server's certificate is issued by a private CA rather than one the system trusts.
 */
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { temporalAddress, temporalAuth, temporalNamespace } from '../config/temporal';

export function connectionOptions(address = temporalAddress()): ConnectionOptions {
  return { address, ...temporalAuth(), connectTimeout: 5000 };
}

const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

export async function connectClient(opts: { address?: string; namespace?: string } = {}): Promise<Client> {
  const address = opts.address ?? temporalAddress();
  let connection: Connection;
  try {
    connection = await Connection.connect(connectionOptions(address));
  } catch (err) {
    // The SDK wraps the server's answer ("Failed to connect to Temporal server"); the cause says why.
    const cause = (err as { cause?: { code?: number; details?: string; message?: string } }).cause;
    if (cause?.code === GRPC_UNAUTHENTICATED || cause?.code === GRPC_PERMISSION_DENIED) {
      throw new Error(
        `Temporal at ${address} refused the credentials: ${cause.details ?? cause.message}. ` +
          'Check TEMPORAL_API_KEY, or TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY.',
      );
    }
    throw new Error(
      `cannot reach Temporal at ${address}: ${(err as Error).message}${cause?.message ? ` (${cause.message})` : ''}. ` +
        'Start the system with `npm start` (or `npm run temporal`), or set TEMPORAL_ADDRESS to your cluster.',
    );
  }
  return new Client({ connection, namespace: opts.namespace ?? temporalNamespace() });
}
