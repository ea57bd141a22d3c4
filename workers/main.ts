/**
 * A worker process, as deployed: `npm run worker` (both queues), or
 * `tsx workers/main.ts --queues agenc-proofs` to scale proof generation on its own.
 * Connects to TEMPORAL_ADDRESS; reads the configuration from AGENC_CONFIG (default: the runbook's template).
 */
import { Command } from 'commander';
import { initialiseAuthority } from '../activities/chain/keys';
import { PROOF_QUEUE, PROOF_VERIFICATION_QUEUE, SELECTABLE_QUEUES, TASK_QUEUE } from '../shared/task-queues';
import { createLogger } from './logger';
import { installRuntime } from './runtime';
import { startWorkerProcess } from './worker-process';

async function main(): Promise<void> {
  const opts = new Command('worker')
    .description('Run AgenC Speculate workers against a Temporal cluster')
    .option(
      '--queues <list>',
      `comma-separated task queues (${SELECTABLE_QUEUES.join(', ')}; ${PROOF_QUEUE} brings ${PROOF_VERIFICATION_QUEUE})`,
      SELECTABLE_QUEUES.join(','),
    )
    .option('--config <file>', 'speculation configuration (default $AGENC_CONFIG or config/speculation-template.toml)')
    .option('--http-port <port>', 'metrics/admin port (default $METRICS_PORT or 9090; "off" for none)')
    .parse()
    .opts<{ queues: string; config?: string; httpPort?: string }>();
  const logger = createLogger('agenc-worker');
  installRuntime(logger);
  const queues = opts.queues.split(',').map((q) => q.trim());
  if (queues.includes(TASK_QUEUE)) {
    // The agenc-tasks worker signs with the protocol authority: on the embedded chain's first start it
    // makes one; otherwise it refuses to start without the key file instead of failing every task.
    const { authority, created } = initialiseAuthority();
    if (created)
      logger.info(
        { authority: authority.toBase58() },
        'made the protocol authority (first start of the embedded chain)',
      );
  }
  const worker = await startWorkerProcess({
    logger,
    configFile: opts.config,
    queues,
    httpPort: opts.httpPort === 'off' ? null : opts.httpPort === undefined ? undefined : Number(opts.httpPort),
  });
  await worker.done;
  logger.info('worker stopped');
  // Every worker has drained and every connection is closed; native handles (snarkjs threads, the SDK
  // runtime) must not keep a stopped worker alive.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`worker: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
