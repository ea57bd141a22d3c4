/**
 * `npm start`: the whole system on this machine (the embedded default): the Temporal dev server with
 * its Web UI, the workers on `agenc-tasks` and `agenc-proofs`, the embedded SVM, and the metrics/admin
 * server on :9090. Ctrl-C stops the workers gracefully, then the dev server.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createStakeOperator } from '../activities/chain';
import { PROJECT_ROOT } from '../config/load';
import { createLogger } from '../workers/logger';
import { installRuntime } from '../workers/runtime';
import { DATA_DIR, startDevServer } from '../workers/temporal-dev-server';
import { startWorkerProcess } from '../workers/worker-process';

const DEFAULT_AGENT_STAKE = 1_000_000_000;

/** ADMIN_TOKEN, or one generated once and kept in .data/admin-token (mode 600). */
function adminToken(): { token: string; file?: string } {
  if (process.env.ADMIN_TOKEN) return { token: process.env.ADMIN_TOKEN };
  const file = path.join(DATA_DIR, 'admin-token');
  if (!existsSync(file)) {
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  return { token: readFileSync(file, 'utf8').trim(), file };
}

async function main(): Promise<void> {
  const logger = createLogger('agenc');
  const say = (m: string) => process.stdout.write(`${m}\n`);
  process.env.AGENC_CONFIG ??= path.join(PROJECT_ROOT, 'config', 'speculation-local.toml');
  process.env.RUST_LOG ??= 'error';

  const server = await startDevServer({ log: (m) => logger.info(m) });
  const { sdkMetricsUrl } = installRuntime(logger);
  const admin = adminToken();
  const worker = await startWorkerProcess({ logger, address: server.address, adminToken: admin.token });

  if (worker.stakeDeps?.chain.kind === 'embedded') {
    const operator = createStakeOperator(worker.stakeDeps);
    const status = await operator.stakeStatus({ agent: 'default' }).catch(() => undefined);
    if (!status?.agents[0]?.deposited) {
      await operator.stakeInit({ agent: 'default', amount: DEFAULT_AGENT_STAKE, requestId: 'npm-start-default-agent' });
      logger.info({ agent: 'default', lamports: DEFAULT_AGENT_STAKE }, 'funded the default agent\'s stake on the embedded chain');
    }
  }

  say('');
  say('AgenC Speculate is up.');
  say(`  Temporal Web UI   ${server.uiUrl ?? `(reused the server at ${server.address}; its UI is wherever it serves it)`}`);
  say(`  Temporal          ${server.address} (namespace ${process.env.TEMPORAL_NAMESPACE ?? 'default'})`);
  say(`  metrics           http://localhost:${worker.httpPort}/metrics${sdkMetricsUrl ? `   (SDK worker metrics: ${sdkMetricsUrl})` : ''}`);
  say(`  admin API         http://localhost:${worker.httpPort}/admin/status${admin.file ? `   (export ADMIN_TOKEN=$(cat ${path.relative(process.cwd(), admin.file)}))` : ''}`);
  say(`  configuration     ${worker.config.file}`);
  say('');
  say('Submit a task (in another terminal):');
  say('  P=$(npx agenc task submit --type compute --payload \'{"value": 100}\' --output json | jq -r .task_id)');
  say('  npx agenc task submit --type compute --payload \'{"value": 200}\' --depends-on "$P"');
  say('  npx agenc task list');
  say('Ctrl-C stops everything.');

  await worker.done;
  logger.info('workers stopped');
  if (server.started) {
    await server.stop();
    logger.info('Temporal dev server stopped');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
