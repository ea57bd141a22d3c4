/**
 * Structured logs (pino): JSON lines in production, pretty on a terminal. Every line from a workflow
 * or activity carries its task id, workflow id and phase through the Temporal logger bindings.
 */
import pino, { type Logger } from 'pino';

export function createLogger(name: string, opts: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY && process.env.LOG_FORMAT !== 'json');
  return pino({
    name,
    level: opts.level ?? (process.env.LOG_LEVEL || 'info'),
    redact: { paths: ['secretKey', '*.secretKey', 'authorization', '*.authorization'], censor: '[redacted]' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  });
}
