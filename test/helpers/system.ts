/**
 * A real system for one test file: its own namespace on the suite's dev server (so singletons such as
 * `speculation-control` never collide between files), a real worker on both task queues with the
 * suite's workflow bundle, a real embedded SVM in a temp dir, real proofs, and the HTTP server on a
 * free port.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { stringify } from 'smol-toml';
import { ensureNamespace, ensureSearchAttributes } from '../../workers/temporal-dev-server';
import { startWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from '../../workers/worker-process';
import { createStakeOperator } from '../../activities/chain';
import { KeyStore } from '../../activities/chain/keys';
import { waitForTask, type SubmitRequest } from '../../client/tasks';
import type { TaskState } from '../../shared/task-model';
import { submitAsAgent } from './agent-keys';
import { testRunDir } from './paths';
import { installTestRuntime } from './runtime';
import { SPECULATIVE_CONFIG, templateWith } from './speculative-config';

export const TEST_ADMIN_TOKEN = 'test-admin-token';
export { SPECULATIVE_CONFIG, speculativeConfig } from './speculative-config';

/** Deep-merges `overrides` into the runbook's template; the result is written as the test's TOML file. */
export function writeConfig(dir: string, overrides: Record<string, unknown>): string {
  const file = path.join(dir, 'speculation.toml');
  writeFileSync(file, stringify(templateWith(overrides)));
  return file;
}

/**
 * How a test assembles a worker process on any server (the suite's, one of its own, the time-skipping
 * one): the suite's workflow bundle and circuits, its chain and keys under `dir` (the protocol authority
 * made there, as a new system's set-up does: the worker itself never makes one), no HTTP server and no
 * emulated finality unless asked.
 */
export function testWorkerOptions(
  at: { address: string; namespace: string; dir: string; configFile: string },
  overrides: Partial<WorkerProcessOptions> = {},
): WorkerProcessOptions {
  const options: WorkerProcessOptions = {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' }),
    address: at.address,
    namespace: at.namespace,
    configFile: at.configFile,
    httpPort: null,
    adminToken: TEST_ADMIN_TOKEN,
    workflowBundle: { codePath: process.env.AGENC_TEST_WORKFLOW_BUNDLE! },
    stake: { accountsFile: path.join(at.dir, 'chain', 'svm-accounts.json'), keysDir: path.join(at.dir, 'keys') },
    proofArtifactsDir: process.env.AGENC_CIRCUITS_DIR,
    shutdownGraceTime: '5s',
    embeddedFinalityMs: 0,
    ...overrides,
  };
  if (options.stake?.keysDir) new KeyStore(options.stake.keysDir).createAuthority();
  return options;
}

export interface TestSystem {
  namespace: string;
  dir: string;
  configFile: string;
  /** The keys directory the worker reads (authority, treasury, agents' wallets); submissions are signed from it. */
  keysDir: string;
  client: Client;
  worker: WorkerProcess;
  /** Submits as the request's agent, signed with its key in `keysDir` (made on first use, see agent-keys.ts). */
  submit(req: SubmitRequest): Promise<string>;
  /** Deposits stake for an agent through the real chain (airdrop, then deposit). */
  fundAgent(agent: string, lamports?: number): Promise<void>;
  wait(taskId: string, timeoutMs?: number): Promise<TaskState>;
  /** Stops the worker only (the namespace and chain file stay), e.g. to simulate a crash. */
  stopWorker(): Promise<void>;
  /** Starts a worker again on the same namespace, chain file and keys. */
  restartWorker(): Promise<void>;
  /** Starts one more worker process on the same namespace, config and chain (e.g. a proof worker); `close()` stops it. */
  startExtraWorker(overrides: Partial<WorkerProcessOptions>): Promise<WorkerProcess>;
  close(): Promise<void>;
}

let counter = 0;

export async function startTestSystem(opts: {
  name: string;
  config?: Record<string, unknown>;
  worker?: Partial<WorkerProcessOptions>;
}): Promise<TestSystem> {
  installTestRuntime();
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address)
    throw new Error(
      'TEMPORAL_ADDRESS is not set: run the tests through jest (test/global-setup.ts starts the dev server)',
    );
  const namespace = `${opts.name}-${process.pid}-${++counter}`;
  const dir = mkdtempSync(path.join(testRunDir(), `${opts.name}-`));
  const configFile = writeConfig(dir, opts.config ?? SPECULATIVE_CONFIG);

  const connection = await Connection.connect({ address });
  await ensureNamespace(connection, namespace);
  await ensureSearchAttributes(connection, namespace);
  const client = new Client({ connection, namespace });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });

  const startWorker = (overrides: Partial<WorkerProcessOptions> = {}) =>
    startWorkerProcess(
      testWorkerOptions({ address, namespace, dir, configFile }, { logger, httpPort: 0, ...opts.worker, ...overrides }),
    );
  let worker = await startWorker();
  const extraWorkers: WorkerProcess[] = [];

  const system: TestSystem = {
    namespace,
    dir,
    configFile,
    keysDir: path.join(dir, 'keys'),
    client,
    get worker() {
      return worker;
    },
    async submit(req) {
      return (await submitAsAgent(client, path.join(dir, 'keys'), req)).task_id;
    },
    async fundAgent(agent, lamports = 1_000_000_000) {
      await createStakeOperator(worker.stakeDeps!).stakeInit({ agent, amount: lamports });
    },
    async wait(taskId, timeoutMs = 90_000) {
      const { state, timedOut } = await waitForTask(client, taskId, { timeoutMs });
      if (timedOut)
        throw new Error(`task ${taskId} still ${state.status} after ${timeoutMs} ms: ${JSON.stringify(state)}`);
      return state;
    },
    async stopWorker() {
      await worker.shutdown();
    },
    async restartWorker() {
      worker = await startWorker();
    },
    async startExtraWorker(overrides) {
      const extra = await startWorker({ httpPort: null, ...overrides });
      extraWorkers.push(extra);
      return extra;
    },
    async close() {
      await Promise.all([worker, ...extraWorkers].map((w) => w.shutdown().catch(() => undefined)));
      await connection.close();
    },
  };
  return system;
}
