/**
 * The worker container as docker-compose.yml runs it, without a Docker engine: the image's
 * environment (Dockerfile `ENV`) under compose's `environment`, the image's command, and then what the
 * process really listens on. Prometheus and the other services reach the worker at `worker:<port>`, so
 * the process must listen on every interface (not the container's loopback) at the ports compose
 * publishes and Prometheus scrapes. The test reads the listening sockets from /proc/net/tcp and sends
 * its own traffic to 127.0.0.1 only.
 *
 * What the test changes from compose, and why: Temporal is the suite's server in a fresh namespace
 * (`temporal:7233` is a compose DNS name); the two ports are free ones (9090 and 9464 may be taken on
 * a shared machine; the first test holds compose's ports to the ones it publishes and scrapes); the
 * `.data` volume is a temp dir, with the suite's circuit artifacts.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { parse } from 'yaml';
import { ensureNamespace, ensureSearchAttributes, freePort } from '../../workers/temporal-dev-server';
import { PROJECT_ROOT, testRunDir } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';

const run = promisify(execFile);

interface WorkerService {
  environment: Record<string, string>;
  ports?: string[];
  expose?: string[];
  command?: string[];
  healthcheck: { test: string[] };
}

const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, WorkerService>;
};
const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');

/** `ENV KEY=VALUE` lines of the Dockerfile: the environment every container of the image starts with. */
function imageEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, assignments = ''] of dockerfile.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const [, key = '', value = ''] of assignments.matchAll(/(\w+)=(\S+)/g)) env[key] = value;
  }
  return env;
}

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` against `vars`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    const set = vars[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '?') throw new Error(`docker-compose.yml needs ${name}: ${rest}`);
    return kind === '-' ? (rest ?? '') : '';
  });
}

/** The container's environment for a compose service built from the Dockerfile, with `vars` as the shell's. */
function containerEnvironment(service: string, vars: Record<string, string>): Record<string, string> {
  const env = { ...imageEnvironment() };
  for (const [key, value] of Object.entries(compose.services[service]?.environment ?? {}))
    env[key] = interpolate(String(value), vars);
  return env;
}

/** Container ports a service offers the compose network: published ones and `expose`. */
function containerPorts(service: string): number[] {
  const s = compose.services[service];
  return [...(s?.ports ?? []).map((spec) => Number(spec.split(':').at(-1))), ...(s?.expose ?? []).map(Number)];
}

const SHELL = { ADMIN_TOKEN: 'compose-test-token' };

test('compose gives both workers ports they publish and Prometheus scrapes, and a host every other container can reach', () => {
  const prometheus = readFileSync(path.join(PROJECT_ROOT, 'config', 'prometheus', 'prometheus.yml'), 'utf8');
  for (const service of ['worker', 'proof-worker']) {
    const env = containerEnvironment(service, SHELL);
    expect(`${service} METRICS_HOST=${env.METRICS_HOST}`).toBe(`${service} METRICS_HOST=0.0.0.0`);
    for (const key of ['METRICS_PORT', 'TEMPORAL_SDK_METRICS_PORT']) {
      const port = Number(env[key]);
      expect(`${service} ${key}=${env[key]} offered: ${containerPorts(service).includes(port)}`).toBe(
        `${service} ${key}=${env[key]} offered: true`,
      );
    }
    const healthcheck = compose.services[service]?.healthcheck.test.join(' ') ?? '';
    expect(healthcheck).toContain(`http://127.0.0.1:${env.METRICS_PORT}/metrics`);
  }
  const worker = containerEnvironment('worker', SHELL);
  expect(prometheus).toContain(`'worker:${worker.METRICS_PORT}'`);
  expect(prometheus).toContain(`'worker:${worker.TEMPORAL_SDK_METRICS_PORT}'`);
});

/** Local addresses of the sockets listening on `port` (IPv4), from the kernel's own table. */
function listeningAddresses(port: number): string[] {
  const rows = readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1);
  return rows.flatMap((row) => {
    const [, local = '', , state = ''] = row.trim().split(/\s+/);
    const [hexAddress = '', hexPort = ''] = local.split(':');
    if (state !== '0A' || parseInt(hexPort, 16) !== port) return [];
    const bytes =
      hexAddress
        .match(/../g)
        ?.map((b) => parseInt(b, 16))
        .reverse() ?? [];
    return [bytes.join('.')];
  });
}

describe('the worker started as compose starts it', () => {
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let output = '';
  let metricsPort: number;
  let sdkPort: number;

  beforeAll(async () => {
    const address = process.env.TEMPORAL_ADDRESS!;
    const namespace = `compose-worker-${process.pid}`;
    const connection = await Connection.connect({ address });
    await ensureNamespace(connection, namespace);
    await ensureSearchAttributes(connection, namespace);
    await connection.close();
    const data = mkdtempSync(path.join(testRunDir(), 'compose-worker-'));
    metricsPort = await freePort();
    sdkPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...containerEnvironment('worker', SHELL),
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      METRICS_PORT: String(metricsPort),
      TEMPORAL_SDK_METRICS_PORT: String(sdkPort),
      AGENC_CHAIN_FILE: path.join(data, 'chain', 'svm-accounts.json'),
      AGENC_KEYS_DIR: path.join(data, 'keys'),
      AGENC_CIRCUITS_DIR: process.env.AGENC_CIRCUITS_DIR,
      RUST_LOG: 'error',
    };
    // The image's CMD, `npx tsx workers/main.ts`, with the same tsx that npx resolves.
    expect(dockerfile).toMatch(/^CMD \["npx", "tsx", "workers\/main\.ts"\]$/m);
    expect(compose.services.worker?.command).toBeUndefined();
    child = spawn(path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'), ['workers/main.ts'], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await pollUntil(
      'the worker to say its metrics and admin API are listening',
      async () => {
        if (child.exitCode !== null) throw new Error(`the worker exited with ${child.exitCode}:\n${output}`);
        return output.includes('metrics and admin API listening');
      },
      (up) => up,
      90_000,
      200,
    );
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('listens for /metrics and the SDK metrics on every interface, at the ports it was given', () => {
    expect(listeningAddresses(metricsPort)).toEqual(['0.0.0.0']);
    expect(listeningAddresses(sdkPort)).toEqual(['0.0.0.0']);
  });

  it("answers a scrape at 127.0.0.1 and passes compose's healthcheck", async () => {
    // speculation_active_tasks is read from the control workflow at each scrape, and has no sample until
    // it answers: right after start-up (on a loaded machine, for a few seconds) it may not yet.
    const scrape = await pollUntil(
      'a scrape with speculation_active_tasks',
      async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        return { status: res.status, text: await res.text() };
      },
      (r) => r.status !== 200 || /^speculation_active_tasks \d+$/m.test(r.text),
      30_000,
      250,
    );
    expect(scrape.status).toBe(200);
    expect(scrape.text).toMatch(/^speculation_active_tasks \d+$/m);
    const sdk = await fetch(`http://127.0.0.1:${sdkPort}/metrics`);
    expect(sdk.status).toBe(200);
    const [, ...healthcheck] = compose.services.worker?.healthcheck.test ?? [];
    const [cmd = '', ...args] = healthcheck.map((part) =>
      part.replace(`:${containerEnvironment('worker', SHELL).METRICS_PORT}/`, `:${metricsPort}/`),
    );
    expect(cmd).toBe('node');
    await expect(run(process.execPath, args)).resolves.toBeDefined();
  });

  it('stops on SIGTERM (what `docker compose stop` sends)', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
