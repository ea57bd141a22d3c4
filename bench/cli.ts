/**
 * How fast `agenc` answers, as the runbook's smoke scripts call it (a process per command): `agenc
 * --version`, `agenc --help` (the whole CLI loaded, no network) and a task submission (connecting to Temporal, signing, starting the workflow), each a fresh
 * `node bin/agenc.js` process, against `node -e 0` (Node's own start) measured in the same run. Both ways
 * the binary can run: the prebuilt bundle (dist/agenc.cjs, what the set-up builds) and the TypeScript
 * sources through tsx (AGENC_CLI_FROM_SOURCE=1, what every call cost before).
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../config/load';
import { buildCli } from '../scripts/build-cli';
import { TASK_QUEUE } from '../shared/task-queues';
import { type BenchContext, benchConfig, quantile } from './harness';

const BIN = path.join(PROJECT_ROOT, 'bin', 'agenc.js');

/** Wall time of one process to its exit, in ms; rejects on a non-zero exit. */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { cwd: PROJECT_ROOT, env, timeout: 60_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(performance.now() - t0),
    ),
  );
}

async function medianOf(runs: number, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timed(args, env));
  return quantile(times, 0.5);
}

export async function benchCli(ctx: BenchContext): Promise<void> {
  const runs = ctx.quick ? 3 : 15;
  buildCli(); // fresh, so no run below pays for a build
  // No proof worker: the submitted tasks execute and then wait for a proof, so no prover competes with
  // the processes being timed for the two cores.
  const sys = await ctx.system('cli', { config: benchConfig(), worker: { queues: [TASK_QUEUE] } });
  try {
    await sys.fund('bench');
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: sys.address,
      TEMPORAL_NAMESPACE: sys.namespace,
      AGENC_KEYS_DIR: sys.keysDir,
    };
    const fromSource = { ...env, AGENC_CLI_FROM_SOURCE: '1' };
    const submit = [
      BIN,
      'task',
      'submit',
      '--type',
      'compute',
      '--payload',
      '{"value": 1}',
      '--agent',
      'bench',
      '-o',
      'json',
    ];

    const node = await medianOf(runs, ['-e', '0'], env);
    const version = await medianOf(runs, [BIN, '--version'], env);
    // --help loads the whole CLI (every command, the Temporal client) without touching the network.
    const help = await medianOf(runs, [BIN, '--help'], env);
    const helpTsx = await medianOf(runs, [BIN, '--help'], fromSource);
    const submission = await medianOf(runs, submit, env);
    const submissionTsx = await medianOf(runs, submit, fromSource);
    ctx.say(
      `  node -e 0 ${node.toFixed(0)} ms; agenc --version ${version.toFixed(0)} ms; agenc --help ${help.toFixed(0)} ms (from source ${helpTsx.toFixed(0)} ms); ` +
        `task submit ${submission.toFixed(0)} ms (from source ${submissionTsx.toFixed(0)} ms); medians of ${runs}`,
    );
    const inputs = { runs, statistic: 'median wall time of a fresh process, start to exit' };
    const figures = {
      node_ms: node,
      version_ms: version,
      help_ms: help,
      help_from_source_ms: helpTsx,
      submission_ms: submission,
      submission_from_source_ms: submissionTsx,
    };
    ctx.record({
      key: 'cli.version',
      title: '`agenc --version`, prebuilt',
      inputs,
      figures,
      figure: { name: 'agenc --version', value: version, unit: 'ms' },
      baseline: { name: 'node -e 0', value: node, unit: 'ms' },
      ratio: version / node,
      ratioMeaning: 'agenc / bare Node start',
      target: '<= 300 ms',
      met: version <= 300,
      notes: `--version is answered before the CLI loads (bin/agenc.js); the whole prebuilt CLI starts in ${help.toFixed(0)} ms (--help), ${helpTsx.toFixed(0)} ms from the TypeScript sources through tsx`,
    });
    ctx.record({
      key: 'cli.submission',
      title: '`agenc task submit`, prebuilt, including the connection to Temporal',
      inputs,
      figures,
      figure: { name: 'agenc task submit', value: submission, unit: 'ms' },
      baseline: { name: 'node -e 0', value: node, unit: 'ms' },
      ratio: submission / node,
      ratioMeaning: 'agenc / bare Node start',
      target: '<= 500 ms',
      met: submission <= 500,
      notes: `from the TypeScript sources through tsx: ${submissionTsx.toFixed(0)} ms; a submission connects, reads the agent's key, signs, and starts the task workflow`,
    });
  } finally {
    await sys.close();
  }
}
