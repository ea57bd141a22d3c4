/**
 * Who owns an embedded chain's state files: a lock the kernel lets go of the moment its holder dies,
 * however it dies, and that no later process can be mistaken for.
 *
 * A pid written to a file cannot be that: a container restarted after a kill runs its processes under
 * the same small pids again, so the dead holder's pid names a live process (often the new worker
 * itself) and the state stays locked for ever. A listening socket, though, exists exactly as long as the
 * process that has it open, so the holder listens on two:
 *
 * - On Linux, a Unix socket in the abstract namespace, named after the state file's real path. Binding
 *   it is the test and the take in one step (EADDRINUSE: someone live has it), and there is no file
 *   to go stale. (On Windows a named pipe behaves the same.) But abstract names live in a network
 *   namespace, and two containers sharing the state volume each have their own.
 * - So the holder also listens on a socket file beside the state (`<state>.lock`, where the pid file
 *   used to be), which every process that can reach the state can reach. A socket file outlives its
 *   process, but connecting to it tells: accepted means a live holder, refused means nobody listens
 *   (stale, or an old pid file) and it is replaced. The abstract lock is taken first, so within one
 *   namespace only one process ever looks at a stale file; two containers starting in the same instant
 *   on a volume whose holder just died could both take it, which is the one race left.
 *
 * A live holder answers a connection with its pid, host and start time, for the refusal message.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chainFailure } from './errors';

export interface StateLock {
  /** Lets go of the state (the socket file is removed); safe to call twice. */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

type Probe = { state: 'live'; holder?: Holder } | { state: 'gone' } | { state: 'unknown'; code: string };

/** Real paths of the state files this process holds: the second open of one here is told so by name. */
const heldHere = new Set<string>();

/** sun_path holds 108 bytes on Linux and 104 on macOS and the BSDs, the terminating NUL among them; longer paths are cut short silently. */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;
/** A live holder answers at once; this only bounds a holder too busy to accept. */
const PROBE_TIMEOUT_MS = 2_000;
const TAKE_ATTEMPTS = 3;

/** Takes `stateFile` for this process, or throws ChainStateLocked naming who holds it. */
export async function acquireStateLock(stateFile: string, warn: (message: string) => void): Promise<StateLock> {
  const real = path.join(fs.realpathSync(path.dirname(stateFile)), path.basename(stateFile));
  if (heldHere.has(real))
    throw chainFailure(
      'ChainStateLocked',
      `embedded chain state ${stateFile} is already open in this process: close() the other BankrunChain first`,
    );
  heldHere.add(real); // before the first await: two opens in one tick must not both pass
  const servers: Listener[] = [];
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    // The socket file first: a process that gets the abstract name next must not find this one still live.
    for (const server of servers.reverse()) await server.close();
    heldHere.delete(real);
  };
  try {
    const holder: Holder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
    const name = kernelName(real);
    if (name) servers.push(await take(name, stateFile, holder, false));
    if (process.platform !== 'win32') {
      const socketFile = `${real}.lock`;
      let unusable: string | undefined;
      if (Buffer.byteLength(socketFile) > MAX_SOCKET_PATH)
        unusable = `its path is longer than a Unix socket's ${MAX_SOCKET_PATH} bytes`;
      else {
        try {
          servers.push(await take(socketFile, stateFile, holder, true));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === undefined || !name) throw err; // refused (ChainStateLocked), or nothing else guards the state
          unusable = `${code}: ${(err as Error).message}`;
        }
      }
      if (unusable) {
        if (!name)
          throw new Error(
            `cannot lock the embedded chain state ${stateFile}: no socket at ${socketFile} (${unusable}); choose a shorter path (AGENC_CHAIN_FILE)`,
          );
        warn(
          `embedded chain state ${stateFile}: no lock socket at ${socketFile} (${unusable}), so a process in another network namespace ` +
            '(another container on the same volume) would not be seen; only this network namespace is guarded',
        );
      }
    }
    return { release };
  } catch (err) {
    await release();
    throw err;
  }
}

function kernelName(real: string): string | null {
  const id = createHash('sha256').update(real).digest('hex').slice(0, 32);
  if (process.platform === 'linux') return `\0agenc-chain-${id}`;
  if (process.platform === 'win32') return `\\\\?\\pipe\\agenc-chain-${id}`;
  return null;
}

async function take(address: string, stateFile: string, holder: Holder, isFile: boolean): Promise<Listener> {
  for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt += 1) {
    const server = await listen(address, holder);
    if (server) return server;
    const probe = await probeHolder(address);
    if (probe.state === 'live')
      throw lockedBy(stateFile, probe.holder ? describe(probe.holder) : 'another live process');
    if (probe.state === 'unknown') {
      throw chainFailure(
        'ChainStateLocked',
        `embedded chain state ${stateFile}: could not tell whether its lock ${isFile ? address : '(abstract socket)'} belongs to a live process ` +
          `(${probe.code}); if no process has this state open, ${isFile ? `delete ${address} and ` : ''}start again`,
      );
    }
    // Nobody listens: a socket file its holder left when killed, or the pid file of an older version.
    if (isFile) fs.rmSync(address, { force: true });
  }
  throw new Error(
    `could not take the lock of the embedded chain state ${stateFile}: it changed hands ${TAKE_ATTEMPTS} times while this process tried`,
  );
}

interface Listener {
  /** Stops listening (a socket file is unlinked) and drops any prober still connected. */
  close(): Promise<void>;
}

/** Listens on `address`, or null when it is already bound. */
function listen(address: string, holder: Holder): Promise<Listener | null> {
  return new Promise((resolve, reject) => {
    const probers = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      probers.add(socket);
      socket.on('close', () => probers.delete(socket));
      socket.on('error', () => undefined); // a prober that hangs up early must not take the holder down
      socket.unref();
      socket.end(`${JSON.stringify(holder)}\n`);
    });
    // A prober that never hangs up would otherwise keep close() waiting for ever.
    const close = () =>
      new Promise<void>((done) => {
        server.close(() => done());
        for (const socket of probers) socket.destroy();
      });
    const failed = (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err));
    server.once('error', failed);
    // exclusive: under the cluster module a worker's listen() would otherwise share the primary's socket.
    server.listen({ path: address, exclusive: true }, () => {
      server.off('error', failed);
      server.on('error', () => undefined); // a failed accept costs one prober its answer, never the lock
      server.unref(); // the lock never keeps the process alive
      resolve({ close });
    });
  });
}

function probeHolder(address: string): Promise<Probe> {
  return new Promise((resolve) => {
    let connected = false;
    let answer = '';
    const socket = net.createConnection({ path: address });
    const done = (probe: Probe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(probe);
    };
    const timer = setTimeout(
      () => done(connected ? { state: 'live' } : { state: 'unknown', code: 'no answer' }),
      PROBE_TIMEOUT_MS,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => (connected = true));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => done({ state: 'live', holder: parseHolder(answer) }));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) done({ state: 'live' });
      else if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done({ state: 'gone' });
      else done({ state: 'unknown', code: err.code ?? err.message });
    });
  });
}

function parseHolder(text: string): Holder | undefined {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.since === 'string')
      return value as Holder;
  } catch {
    // an older or foreign listener: it is live, which is all that matters
  }
  return undefined;
}

function describe(holder: Holder): string {
  return `process ${holder.pid} on host ${holder.host} (since ${holder.since})`;
}

function lockedBy(stateFile: string, who: string) {
  return chainFailure(
    'ChainStateLocked',
    `embedded chain state ${stateFile} is in use by ${who}; run chain operations through that process (the worker) or stop it first. ` +
      'The lock goes with that process, however it ends, so there is nothing to delete',
  );
}
