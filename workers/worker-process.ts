/**
 * Assembles a worker process: the `agenc-tasks` worker (workflows, task execution, chain), the
 * `agenc-proofs` worker (Groth16 proving, CPU-bound: it takes at most `[speculation.proof] worker_threads`
 * proofs, so a backlog waits in Temporal's task queue for whichever proof worker frees first), its
 * `agenc-proof-verification` worker, and the metrics/admin HTTP server. Workers hold no state of their
 * own (all state lives in Temporal, so workers scale by adding processes) except the embedded SVM, the single-machine default.
 */
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  type ActivityInterceptorsFactory,
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import type { Duration } from '@temporalio/common';
import type { Logger } from 'pino';
import { ControlNotRunningError, ensureControl, controlStatus } from '../temporal/control';
import { loadConfig, type LoadedConfig } from '../config/load';
import { createStakeActivities, createStakeOperator, openStakeDeps, type StakeDeps } from '../activities/chain';
import { createCommitActivity } from '../activities/chain/commit-activities';
import { createOperatorActivities } from '../activities/operator-activities';
import {
  createProofActivities,
  createProofService,
  releaseProverResources,
  type ProofService,
} from '../activities/proof';
import { createSubmissionActivities } from '../activities/submission-activities';
import { createTaskActivities } from '../activities/task-activities';
import { createCascadeActivities } from '../activities/cascade-activities';
import {
  CONTROL_QUEUE,
  PROOF_QUEUE,
  PROOF_VERIFICATION_QUEUE,
  SELECTABLE_QUEUES,
  TASK_QUEUE,
} from '../shared/task-queues';
import { activityLogAttributes } from './activity-log-attributes';
import { createMetrics, metricsSinks, type SpeculationMetrics } from './metrics';
import { startHttpServer } from './http-server';
import { proofBacklog } from './proof-backlog';
import { temporalAddress, temporalAuth, temporalNamespace } from '../config/temporal';

export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'index.ts');
export const WORKFLOW_INTERCEPTOR_MODULES = [path.join(__dirname, '..', 'workflows', 'log-attributes.ts')];

/** The workflow code as the worker runs it; tests build it once for the whole suite. */
export function bundleWorkflows() {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  });
}

export interface WorkerProcessOptions {
  logger: Logger;
  address?: string;
  namespace?: string;
  configFile?: string;
  queues?: readonly string[];
  /** Metrics/admin HTTP port; 0 picks a free one; null runs no HTTP server. */
  httpPort?: number | null;
  httpHost?: string;
  adminToken?: string;
  insecureLocalAdmin?: boolean;
  /** A prebuilt workflow bundle (tests build one for the whole suite). */
  workflowBundle?: WorkflowBundleOption;
  stake?: { accountsFile?: string; keysDir?: string; rpcUrl?: string };
  proofArtifactsDir?: string;
  shutdownGraceTime?: Duration;
  /** Extra activity interceptors after the logging one: tests inject faults (a chain that stops answering) through them. */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /** Emulated finality of the embedded chain (see activities/chain/commit-activities.ts); default $AGENC_EMBEDDED_FINALITY_MS or 3000. */
  embeddedFinalityMs?: number;
}

export interface WorkerProcess {
  client: Client;
  metrics: SpeculationMetrics;
  httpPort?: number;
  config: LoadedConfig;
  stakeDeps?: StakeDeps;
  proofService?: ProofService;
  /** Resolves when every worker has stopped (after `shutdown()` or a SIGINT/SIGTERM). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const { logger } = opts;
  const address = opts.address ?? temporalAddress();
  const namespace = opts.namespace ?? temporalNamespace();
  const queues = opts.queues ?? SELECTABLE_QUEUES;
  for (const q of queues) {
    if (!SELECTABLE_QUEUES.includes(q))
      throw new Error(`unknown task queue "${q}" (known: ${SELECTABLE_QUEUES.join(', ')})`);
  }
  const config = loadConfig({ file: opts.configFile });
  logger.info({ file: config.file, env: config.envApplied }, 'configuration loaded');
  const proofCfg = config.config.speculation.proof;

  const clientConnection = await Connection.connect({ address, ...temporalAuth() });
  const client = new Client({ connection: clientConnection, namespace });
  const rawConfig = () => config.raw;

  let proofService: ProofService | undefined;
  // Opened below when this process serves agenc-tasks; the stake gauges read it at scrape time.
  let stakeDeps: StakeDeps | undefined;
  const metrics = createMetrics({
    controlStatus: () => controlStatus(client),
    proofQueueDepth: () => proofBacklog(client),
    stakeAvailable: () =>
      stakeDeps ? createStakeOperator(stakeDeps).stakeAvailable() : Promise.reject(new Error('no chain here')),
  });

  const connection = await NativeConnection.connect({ address, ...temporalAuth() });
  const workflowBundle = opts.workflowBundle ?? (await bundleWorkflows());
  const workers: Worker[] = [];

  if (queues.includes(TASK_QUEUE)) {
    stakeDeps = await openStakeDeps(opts.stake ?? {});
    logger.info({ chain: stakeDeps.chain.kind }, 'chain opened');
    const stakeActivities = createStakeActivities(stakeDeps);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: TASK_QUEUE,
        workflowBundle,
        activities: {
          ...createTaskActivities({ client, rawConfig, proofBacklog: () => proofBacklog(client) }),
          ...createSubmissionActivities(stakeDeps),
          ...stakeActivities,
          ...createCascadeActivities({ client, releaseBonds: stakeActivities.releaseBonds }),
          ...createCommitActivity(stakeDeps, {
            finalityMs: opts.embeddedFinalityMs,
            onFinality: (s) => metrics.confirmationSeconds.observe(s),
          }),
          ...createOperatorActivities({ client, stake: stakeDeps, rawConfig }),
          ...(await import('../activities/rollout-metrics')).createRolloutActivities({ client, rawConfig, metrics }),
        },
        sinks: metricsSinks(metrics),
        interceptors: { activity: [activityLogAttributes, ...(opts.activityInterceptors ?? [])] },
        shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
      }),
    );
    // speculation-control on a queue of its own, with its own workflow-task slots (CONTROL_QUEUE).
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: CONTROL_QUEUE,
        workflowBundle,
        sinks: metricsSinks(metrics),
        shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
      }),
    );
  }
  if (queues.includes(PROOF_QUEUE)) {
    // The worker takes no more proofs than it proves at once (maxConcurrentActivityTaskExecutions
    // below), so the service's wait queue only holds a proof whose slot is still busy with the
    // computation of a proof that already timed out (proving cannot be pre-empted): at most one per slot.
    const proofOptions = {
      timeoutMs: proofCfg.timeout_ms,
      maxConcurrent: proofCfg.worker_threads,
      queueSize: proofCfg.worker_threads,
    };
    proofService = createProofService({
      ...proofOptions,
      artifactsDir: opts.proofArtifactsDir ?? process.env.AGENC_CIRCUITS_DIR,
      ptauPath: process.env.AGENC_PTAU,
      onProofDuration: (s) => metrics.proofGenerationSeconds.observe(s),
      onProgress: (line) => logger.info(line),
    });
    // Build or load the circuit artifacts before taking work, so the first proof is not a 100 s surprise.
    const circuits = await proofService.circuits();
    logger.info(
      { vkeys: Object.fromEntries(circuits.map((c) => [c.circuit, c.verificationKeyHash])) },
      'proof artifacts ready',
    );
    const { generateProof, verifyProof } = createProofActivities(proofOptions, proofService);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: PROOF_QUEUE,
        // verifyProof too: verifications that workflow code older than the verification queue scheduled here still run.
        activities: { generateProof, verifyProof },
        maxConcurrentActivityTaskExecutions: proofCfg.worker_threads,
        interceptors: { activity: [activityLogAttributes, ...(opts.activityInterceptors ?? [])] },
        shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
      }),
      await Worker.create({
        connection,
        namespace,
        taskQueue: PROOF_VERIFICATION_QUEUE,
        activities: { verifyProof },
        interceptors: { activity: [activityLogAttributes, ...(opts.activityInterceptors ?? [])] },
        shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
      }),
    );
  }

  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  if (opts.httpPort !== null) {
    http = await startHttpServer({
      client,
      registry: metrics.registry,
      logger,
      adminToken: opts.adminToken ?? process.env.ADMIN_TOKEN,
      insecureLocalAdmin: opts.insecureLocalAdmin ?? process.env.AGENC_INSECURE_LOCAL_ADMIN === '1',
      configFile: config.file,
      rawConfig,
      host: opts.httpHost ?? process.env.METRICS_HOST ?? '127.0.0.1',
      port: opts.httpPort ?? Number(process.env.METRICS_PORT ?? 9090),
    });
    logger.info({ port: http.port }, 'metrics and admin API listening');
  }

  const runs = workers.map((w) => w.run());
  for (const q of queues) logger.info({ taskQueue: q, namespace, address }, 'worker polling');
  const done = Promise.all(runs).then(async () => {
    logger.info('workers stopped; closing the HTTP server, the chain and connections');
    await http?.close();
    await stakeDeps?.chain.close();
    // snarkjs keeps worker threads alive after proving; a stopped worker must let the process exit.
    if (proofService) await releaseProverResources();
    await connection.close();
    await clientConnection.close();
  });

  // Once polling: restoring a control workflow that closed needs a worker on agenc-tasks to replay it.
  try {
    const ensured = await ensureControl(client, config.raw);
    if (ensured.outcome === 'restored') {
      logger.warn(
        { closedAs: ensured.closedAs, closedAt: ensured.closedAt },
        'speculation-control had closed: restored from its last state, not from the file',
      );
    } else if (ensured.outcome === 'started') {
      logger.info({ file: config.file }, 'speculation-control started from the configuration file (its first start)');
    }
  } catch (err) {
    if (!(err instanceof ControlNotRunningError)) {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => undefined);
      throw err;
    }
    // Running tasks can still finish; admissions wait until an operator restores control.
    logger.error({ err: err.message }, 'speculation-control is not running and could not be restored');
  }

  return {
    client,
    metrics,
    httpPort: http?.port,
    config,
    stakeDeps,
    proofService,
    done,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}
