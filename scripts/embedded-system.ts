/**
 * The embedded default on this machine: the Temporal dev server (or the one already answering), the
 * workers on both queues with the embedded SVM, the metrics/admin server, and the default agent funded.
 * `npm start` runs it until Ctrl-C; `npm run demo` and `npm run bench` use it when nothing is running.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { createStakeOperator } from '../activities/chain';
import { initialiseAuthority } from '../activities/chain/keys';
import { PROJECT_ROOT } from '../config/load';
import { installRuntime } from '../workers/runtime';
import { DATA_DIR, startDevServer, type DevServer } from '../workers/temporal-dev-server';
import { startWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from '../workers/worker-process';

export const LOCAL_CONFIG = path.join(PROJECT_ROOT, 'config', 'speculation-local.toml');
const DEFAULT_AGENT_STAKE = 1_000_000_000;

/** ADMIN_TOKEN, or one generated once and kept in .data/admin-token (mode 600). */
export function adminToken(): { token: string; file?: string } {
  if (process.env.ADMIN_TOKEN) return { token: process.env.ADMIN_TOKEN };
  const file = path.join(DATA_DIR, 'admin-token');
  if (!existsSync(file)) {
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  return { token: readFileSync(file, 'utf8').trim(), file };
}

export interface EmbeddedSystem {
  server: DevServer;
  worker: WorkerProcess;
  admin: { token: string; file?: string };
  sdkMetricsUrl?: string;
  stop(): Promise<void>;
}

export async function startEmbeddedSystem(
  logger: Logger,
  opts: Partial<WorkerProcessOptions> & { sdkMetricsPort?: number } = {},
): Promise<EmbeddedSystem> {
  process.env.AGENC_CONFIG ??= LOCAL_CONFIG;
  process.env.RUST_LOG ??= 'error';
  const server = await startDevServer({ log: (m) => logger.info(m) });
  const { sdkMetricsUrl } = installRuntime(logger, { sdkMetricsPort: opts.sdkMetricsPort });
  const admin = adminToken();
  // The embedded default's first start makes the protocol authority; a later start with the key missing refuses.
  const { authority, created } = initialiseAuthority(opts.stake);
  if (created)
    logger.info({ authority: authority.toBase58() }, 'made the protocol authority (first start of the embedded chain)');
  const worker = await startWorkerProcess({ logger, address: server.address, adminToken: admin.token, ...opts });

  if (worker.stakeDeps?.chain.kind === 'embedded') {
    const operator = createStakeOperator(worker.stakeDeps);
    // The default agent, and the smoke tests' own (scripts/smoke-tests/lib.sh), each funded once.
    for (const agent of ['default', 'smoke']) {
      const status = await operator.stakeStatus({ agent }).catch(() => undefined);
      if (!status?.agents[0]?.deposited) {
        await operator.stakeInit({ agent, amount: DEFAULT_AGENT_STAKE, requestId: `embedded-${agent}-agent` });
        logger.info({ agent, lamports: DEFAULT_AGENT_STAKE }, `funded agent ${agent}'s stake on the embedded chain`);
      }
    }
  }
  return {
    server,
    worker,
    admin,
    sdkMetricsUrl,
    async stop() {
      await worker.shutdown();
      if (server.started) await server.stop();
    },
  };
}
