/** The Temporal SDK's runtime as tests want it: quiet. */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

const LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/**
 * Installs the SDK runtime with a logger that keeps to warnings and errors (the workflows log every
 * decision at info), or to TEST_LOG_LEVEL when set (e.g. `TEST_LOG_LEVEL=debug`), and the core's own
 * logs to errors (RUST_LOG). Call it before the first worker or connection of a test file; a runtime
 * already installed in this process (by another call, or by a test that captures the SDK's logs) is
 * kept.
 */
export function installTestRuntime(): void {
  process.env.RUST_LOG ??= 'error';
  const wanted = process.env.TEST_LOG_LEVEL?.toUpperCase() as LogLevel | undefined;
  const level = wanted && LEVELS.includes(wanted) ? wanted : 'WARN';
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // a runtime already exists in this process
  }
}
