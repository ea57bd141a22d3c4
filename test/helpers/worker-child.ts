/**
 * A test system's worker as a process of its own, for tests that SIGKILL it: tsx as a loader inside one
 * node process, so the signal hits the worker itself, not a tsx wrapper around it. Same namespace,
 * configuration, chain file and keys as the in-process worker of `startTestSystem`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { PROOF_QUEUE } from '../../shared/task-queues';
import { PROJECT_ROOT } from './paths';
import { TEST_ADMIN_TOKEN, type TestSystem } from './system';

/** Starts the worker; resolves once it polls both queues. Its output goes to `worker-<n>.log` in the system's dir. */
export function spawnWorker(
  sys: TestSystem,
  children: ChildProcess[],
  opts: { embeddedFinalityMs: number; args?: string[]; env?: NodeJS.ProcessEnv },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts', ...(opts.args ?? [])], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      TEMPORAL_NAMESPACE: sys.namespace,
      AGENC_CONFIG: sys.configFile,
      AGENC_CHAIN_FILE: path.join(sys.dir, 'chain', 'svm-accounts.json'),
      AGENC_KEYS_DIR: path.join(sys.dir, 'keys'),
      AGENC_EMBEDDED_FINALITY_MS: String(opts.embeddedFinalityMs),
      TEMPORAL_SDK_METRICS_PORT: '0',
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_FORMAT: 'json',
      TEMPORAL_LOG_LEVEL: 'WARN',
      RUST_LOG: 'error',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const log = createWriteStream(path.join(sys.dir, `worker-${children.length}.log`));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(`"taskQueue":"${PROOF_QUEUE}"`) && out.includes('worker polling')) resolve(child);
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before polling:\n${out.slice(-3000)}`)));
  });
}
