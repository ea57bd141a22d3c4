/** The `agenc` CLI as a user runs it: a child process of bin/agenc.js in the project's directory. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { PROJECT_ROOT } from './paths';

export interface CliRun {
  /** The exit code (null when the process was killed, e.g. by the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `agenc ARGS`; never rejects: a failing command is a CliRun with its exit code. */
export function runAgenc(args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(PROJECT_ROOT, 'bin', 'agenc.js'), ...args],
      { cwd: PROJECT_ROOT, timeout: 60_000, ...(opts.env ? { env: opts.env } : {}) },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}
