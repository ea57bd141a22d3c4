/**
 * scripts/check-prerequisites.sh against stand-ins it cannot tell from the real thing: a TCP
 * listener for Temporal, an HTTP JSON-RPC server for Solana, a fake agenc CLI, and temporary
 * data and circuit directories. Host minimums (memory, cores, disk) are whatever this machine
 * has, so those lines are checked against the machine's own numbers rather than a fixed verdict.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const script = path.resolve(__dirname, '..', '..', 'scripts', 'check-prerequisites.sh');

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Asynchronous on purpose: the stand-in servers live in this process and must keep answering. */
function runScript(args: string[], env: Record<string, string | undefined>): Promise<RunResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['TEMPORAL_ADDRESS', 'SOLANA_RPC_URL', 'AGENC_DATA_DIR', 'AGENC_CIRCUITS_DIR', 'AGENC_CLI'])
    delete childEnv[name];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { env: childEnv, cwd: work, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function line(output: string, check: string): string {
  const found = output.split('\n').find((candidate) => candidate.slice(2).startsWith(check));
  if (found === undefined) throw new Error(`no "${check}" line in:\n${output}`);
  return found;
}

const listen = <T extends TcpServer | HttpServer>(server: T): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const close = (server: TcpServer | HttpServer): Promise<void> =>
  new Promise((resolve) => server.close(() => resolve()));

let work: string;
let temporal: TcpServer;
let temporalAddress: string;
let closedAddress: string;
let rpc: HttpServer;
let rpcUrl: string;
let rpcHealthy = true;
let circuitsWithKey: string;
let emptyCircuits: string;
let fakeCli: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'agenc-prereq-'));

  temporal = createTcpServer((socket) => socket.end());
  temporalAddress = `127.0.0.1:${await listen(temporal)}`;
  const closed = createTcpServer();
  closedAddress = `127.0.0.1:${await listen(closed)}`;
  await close(closed);

  rpc = createHttpServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const { method, id } = JSON.parse(body) as { method: string; id: number };
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify(
          method === 'getHealth' && rpcHealthy
            ? { jsonrpc: '2.0', result: 'ok', id }
            : { jsonrpc: '2.0', error: { code: -32005, message: 'Node is behind by 42 slots' }, id },
        ),
      );
    });
  });
  rpcUrl = `http://127.0.0.1:${await listen(rpc)}`;

  circuitsWithKey = path.join(work, 'circuits');
  mkdirSync(path.join(circuitsWithKey, 'compute'), { recursive: true });
  writeFileSync(path.join(circuitsWithKey, 'compute', 'verification_key.json'), '{"protocol":"groth16"}');
  emptyCircuits = path.join(work, 'no-circuits');
  mkdirSync(emptyCircuits);

  fakeCli = path.join(work, 'agenc');
  writeFileSync(
    fakeCli,
    [
      '#!/usr/bin/env bash',
      'case "$*" in',
      '  --version) echo 0.1.0 ;;',
      '  "stake status --output json") echo "$FAKE_STAKE_STATUS" ;;',
      '  *) echo "unexpected: $*" >&2; exit 64 ;;',
      'esac',
    ].join('\n'),
  );
  chmodSync(fakeCli, 0o755);
});

afterAll(async () => {
  await close(temporal);
  await close(rpc);
  rmSync(work, { recursive: true, force: true });
});

describe('check-prerequisites.sh arguments', () => {
  it('prints usage for --help and exits 0', async () => {
    const result = await runScript(['--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: scripts\/check-prerequisites\.sh --component speculation/);
  });

  it.each([
    [['--bogus'], /unknown argument '--bogus'/],
    [[], /--component is required/],
    [['--component'], /--component needs a value/],
    [['--component', 'proofs'], /unknown component 'proofs' \(the only component is: speculation\)/],
  ])('rejects %j with exit 2 and a message', async (args, message) => {
    const result = await runScript(args, {});
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});

describe('check-prerequisites.sh --component speculation', () => {
  it('reports every check, each met where its stand-in is healthy', async () => {
    const result = await runScript(['--component', 'speculation'], {
      TEMPORAL_ADDRESS: temporalAddress,
      SOLANA_RPC_URL: rpcUrl,
      AGENC_DATA_DIR: path.join(work, 'data-not-created-yet'),
      AGENC_CIRCUITS_DIR: circuitsWithKey,
      AGENC_CLI: fakeCli,
      FAKE_STAKE_STATUS: '{"agents": [{"agent": "default", "available": 1000000000}]}',
    });
    const out = result.stdout;

    const memoryMb = Math.floor(Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024);
    expect(line(out, 'Memory')).toBe(`${memoryMb >= 8192 ? '✓' : '✗'} Memory: ${memoryMb} MB (minimum: 8192 MB)`);

    const cores = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim());
    expect(line(out, 'CPU cores')).toBe(`${cores >= 4 ? '✓' : '✗'} CPU cores: ${cores} (minimum: 4)`);

    // The data directory does not exist yet: the script measures the filesystem it would be created on.
    const disk = statfsSync(work);
    const freeGb = Math.floor((disk.bavail * disk.bsize) / 1024 ** 3);
    const diskLine = line(out, 'Disk space');
    expect(diskLine).toMatch(/^[✓✗] Disk space: \d+ GB free under .*data-not-created-yet \(minimum: 100 GB\)$/);
    const reportedGb = Number(/(\d+) GB free/.exec(diskLine)?.[1]);
    expect(Math.abs(reportedGb - freeGb)).toBeLessThanOrEqual(1);
    expect(diskLine.startsWith(reportedGb >= 100 ? '✓' : '✗')).toBe(true);

    expect(line(out, 'Temporal reachable')).toBe(`✓ Temporal reachable: ${temporalAddress}`);
    expect(line(out, 'Proof artifacts present')).toBe(
      `✓ Proof artifacts present: 1 verification key(s) under ${circuitsWithKey}`,
    );
    expect(line(out, 'Required accounts funded')).toBe('✓ Required accounts funded');
    expect(line(out, 'Solana RPC responsive')).toMatch(/^✓ Solana RPC responsive: \d+ms$/);

    // Exit status follows the lines: non-zero exactly when some minimum (here: this host's) is not met.
    const failed = out.split('\n').filter((candidate) => candidate.startsWith('✗')).length;
    expect(result.code).toBe(failed > 0 ? 1 : 0);
    expect(out.trimEnd().split('\n').at(-1)).toBe(
      failed > 0 ? `${failed} prerequisite(s) not met` : 'All prerequisites met',
    );
  });

  const failingEnv = (): Record<string, string> => ({
    TEMPORAL_ADDRESS: closedAddress,
    SOLANA_RPC_URL: rpcUrl,
    AGENC_DATA_DIR: work,
    AGENC_CIRCUITS_DIR: emptyCircuits,
    AGENC_CLI: fakeCli,
    FAKE_STAKE_STATUS: '{"agents": [{"agent": "default", "available": 1000000000}, {"agent": "dry", "available": 0}]}',
  });

  it('fails each unmet check with a reason and exits 1', async () => {
    rpcHealthy = false;
    try {
      const result = await runScript(['--component', 'speculation'], failingEnv());
      const out = result.stdout;
      expect(line(out, 'Temporal reachable')).toBe(
        `✗ Temporal reachable: no TCP connection to ${closedAddress} within 3s (start it: npm run temporal, or set TEMPORAL_ADDRESS)`,
      );
      expect(line(out, 'Proof artifacts present')).toBe(
        `✗ Proof artifacts present: no ${emptyCircuits}/*/verification_key.json (build them: npm run build:circuits)`,
      );
      expect(line(out, 'Required accounts funded')).toBe(
        '✗ Required accounts funded: no stake available for agent(s) dry (agenc stake init --amount 1000000000 --agent NAME)',
      );
      expect(line(out, 'Solana RPC responsive')).toMatch(
        /^✗ Solana RPC responsive: \d+ms but getHealth is not ok: .*Node is behind/,
      );
      expect(result.code).toBe(1);
      expect(out).toMatch(/\d+ prerequisite\(s\) not met\n$/);
    } finally {
      rpcHealthy = true;
    }
  });

  it('exits 0 with --warn-only while still printing the failures', async () => {
    const result = await runScript(['--component', 'speculation', '--warn-only'], failingEnv());
    expect(result.code).toBe(0);
    expect(line(result.stdout, 'Temporal reachable')).toMatch(/^✗ /);
    expect(result.stdout).toMatch(/\d+ prerequisite\(s\) not met \(--warn-only: exiting 0\)\n$/);
  });

  it('says what it could not check and what it skipped', async () => {
    const result = await runScript(['--component=speculation'], {
      TEMPORAL_ADDRESS: temporalAddress,
      AGENC_DATA_DIR: work,
      AGENC_CIRCUITS_DIR: circuitsWithKey,
      AGENC_CLI: path.join(work, 'no-such-cli'),
    });
    expect(line(result.stdout, 'Required accounts funded')).toMatch(
      /^⚠ Required accounts funded: could not check \(the agenc CLI did not answer/,
    );
    expect(line(result.stdout, 'Solana RPC')).toBe(
      '– Solana RPC: SOLANA_RPC_URL not set, embedded SVM in use, skipped',
    );
  });

  it('cannot check funding when the CLI answers without an agent list', async () => {
    const result = await runScript(['--component', 'speculation'], {
      TEMPORAL_ADDRESS: temporalAddress,
      AGENC_DATA_DIR: work,
      AGENC_CIRCUITS_DIR: circuitsWithKey,
      AGENC_CLI: fakeCli,
      FAKE_STAKE_STATUS: '{"stake_lamports": 1000000000}',
    });
    expect(line(result.stdout, 'Required accounts funded')).toBe(
      '⚠ Required accounts funded: could not check (agenc stake status gave no agent list)',
    );
  });
});
