/**
 * The Temporal SDK runtime for a worker process: SDK and workflow logs go through pino (so every
 * workflow line carries its workflow id, run id and the fields the workflow adds, such as taskId), and
 * the SDK's own worker metrics are served for Prometheus on their own port (9464 by default,
 * `TEMPORAL_SDK_METRICS_PORT`; 0 turns them off). SIGINT/SIGTERM start a graceful shutdown.
 */
import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';

export function installRuntime(
  logger: Logger,
  opts: { sdkMetricsPort?: number; host?: string } = {},
): { sdkMetricsUrl?: string } {
  const port = opts.sdkMetricsPort ?? Number(process.env.TEMPORAL_SDK_METRICS_PORT ?? 9464);
  const host = opts.host ?? process.env.METRICS_HOST ?? '127.0.0.1';
  const level = (process.env.TEMPORAL_LOG_LEVEL ?? 'INFO') as LogLevel;
  const methods = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => logger[methods[entry.level]]({ ...entry.meta }, entry.message)),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(port > 0 ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `${host}:${port}` } } } } : {}),
  });
  return { sdkMetricsUrl: port > 0 ? `http://${host}:${port}/metrics` : undefined };
}
