/**
 * What every measurement module shares: the record it returns, and a private system per module (its
 * own namespace on the run's dev server, so each starts with a fresh `speculation-control` and its own
 * configuration; its own embedded SVM in the run's temp dir; real proofs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from 'pino';
import { stringify } from 'smol-toml';
import { createStakeOperator } from '../activities/chain';
import { KeyStore } from '../activities/chain/keys';
import { controlHandle } from '../temporal/control';
import { DEFAULT_AGENT, finalTaskState, submitTask, type SubmitRequest } from '../client/tasks';
import { readTomlFile, TEMPLATE_PATH } from '../config/load';
import { setConfigUpdate } from '../shared/messages';
import type { TaskState } from '../shared/task-model';
import { ensureNamespace, ensureSearchAttributes } from '../workers/temporal-dev-server';
import { startWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from '../workers/worker-process';

/** One measurement: `figure` against `baseline`, both from the same run on the same machine. */
export interface BenchRecord {
  key: string;
  title: string;
  /** What produced it: sizes, durations, configuration. */
  inputs: Record<string, unknown>;
  /** Every number measured; `figure` names the headline one. */
  figures: Record<string, number>;
  figure: { name: string; value: number; unit: string };
  baseline: { name: string; value: number; unit: string };
  /** figure / baseline, or as `ratioMeaning` says. */
  ratio: number;
  ratioMeaning: string;
  target?: string;
  met?: boolean;
  notes: string;
}

export interface BenchContext {
  quick: boolean;
  /** `--work-ms` / `--finality-ms`: the speed-up measured at one parameter set of the caller's instead of its own sets. */
  params: { workMs?: number; finalityMs?: number };
  address: string;
  /** The Temporal server process the bench started (for its CPU time); absent when one was reused. */
  serverPid?: number;
  bundle: WorkflowBundleOption;
  logger: Logger;
  dir: string;
  say(line: string): void;
  /** Keeps a finished measurement: what a module records survives the module failing or stalling later. */
  record(r: BenchRecord): void;
  /** A fresh namespace with its own control workflow, configuration and chain; `close()` stops its worker. */
  system(
    name: string,
    opts: { config: Record<string, unknown>; worker?: Partial<WorkerProcessOptions> },
  ): Promise<BenchSystem>;
}

export interface BenchSystem {
  namespace: string;
  address: string;
  configFile: string;
  /** The keys directory of its chain (authority, agents' wallets): what `agenc` signs submissions from. */
  keysDir: string;
  client: Client;
  worker: WorkerProcess;
  submit(req: SubmitRequest): Promise<string>;
  setConfig(changes: Record<string, unknown>): Promise<void>;
  fund(agent: string, lamports?: number): Promise<void>;
  /** The final state a task workflow returns; cheap on a closed workflow (no query, no replay). Bounded: a stalled run fails, never hangs. */
  result(taskId: string, timeoutMs?: number): Promise<TaskState>;
  close(): Promise<void>;
}

/** Speculation on for every task, limits raised for the bench's trees; modules override what they measure. */
export function benchConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  const merge = (base: Record<string, unknown>, o: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...base };
    for (const [k, v] of Object.entries(o)) {
      out[k] =
        v && typeof v === 'object' && !Array.isArray(v)
          ? merge((base[k] as Record<string, unknown>) ?? {}, v as Record<string, unknown>)
          : v;
    }
    return out;
  };
  return merge(
    readTomlFile(TEMPLATE_PATH),
    merge(
      {
        speculation: {
          enabled: true,
          mode: 'aggressive',
          confirmation_timeout_ms: 600_000,
          proof: { worker_threads: 1, timeout_ms: 120_000 },
          limits: { max_state_snapshots: 5000 },
          features: { rollout_percentage: 100 },
        },
      },
      over,
    ),
  );
}

let namespaces = 0;

export function systemFactory(base: Omit<BenchContext, 'system'>): BenchContext['system'] {
  return async (name, opts) => {
    const namespace = `bench-${name}-${++namespaces}`;
    const dir = path.join(base.dir, namespace);
    mkdirSync(dir, { recursive: true });
    const configFile = path.join(dir, 'speculation.toml');
    writeFileSync(configFile, stringify(opts.config));
    const connection = await Connection.connect({ address: base.address });
    await ensureNamespace(connection, namespace);
    await ensureSearchAttributes(connection, namespace);
    const client = new Client({ connection, namespace });
    // A new system on its own chain: its set-up makes the protocol authority (a worker never does).
    new KeyStore(path.join(dir, 'keys')).createAuthority();
    const worker = await startWorkerProcess({
      logger: base.logger,
      address: base.address,
      namespace,
      configFile,
      httpPort: null,
      workflowBundle: base.bundle,
      stake: { accountsFile: path.join(dir, 'chain.json'), keysDir: path.join(dir, 'keys') },
      shutdownGraceTime: '5s',
      ...opts.worker,
    });
    return {
      namespace,
      address: base.address,
      configFile,
      keysDir: path.join(dir, 'keys'),
      client,
      worker,
      async submit(req) {
        // Signed by the agent, its key made on first use in the worker's keys directory (as `agenc stake init` does).
        new KeyStore(path.join(dir, 'keys')).agent(req.agent ?? DEFAULT_AGENT, { create: true });
        return (await submitTask(client, req, { keysDir: path.join(dir, 'keys') })).task_id;
      },
      async setConfig(changes) {
        await controlHandle(client).executeUpdate(setConfigUpdate, { args: [changes] });
      },
      async fund(agent, lamports = 100_000_000_000) {
        await createStakeOperator(worker.stakeDeps!).stakeInit({ agent, amount: lamports });
      },
      async result(taskId, timeoutMs = 600_000) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`task ${taskId} not final after ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          return await Promise.race([finalTaskState(client, taskId), timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
      async close() {
        await worker.shutdown().catch(() => undefined);
        await connection.close();
      },
    };
  };
}

export { pool } from '../shared/pool';

export const ms = (iso: string | undefined): number => (iso ? Date.parse(iso) : NaN);

export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
