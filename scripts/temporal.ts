/**
 * `npm run temporal`: only the Temporal dev server (SQLite in .data/temporal.db, Web UI on 8233), with
 * the project's search attributes registered. Reuses a server already answering at TEMPORAL_ADDRESS.
 */
import { startDevServer } from '../workers/temporal-dev-server';

async function main(): Promise<void> {
  const server = await startDevServer({ log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`Temporal at ${server.address}${server.uiUrl ? `, Web UI at ${server.uiUrl}` : ''}\n`);
  if (!server.started) return;
  process.stdout.write('Ctrl-C stops it.\n');
  const stop = () => void server.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`temporal: ${(err as Error).message}\n`);
  process.exit(1);
});
