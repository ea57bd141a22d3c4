/**
 * Security of a running system (issue 13, item 4), against a real worker on the suite's dev server:
 * - the admin API refuses a token in the query string, methods it does not serve, and streamed
 *   bodies over the limit;
 * - the metrics/admin server listens on 127.0.0.1 only, unless told otherwise;
 * - key files are mode 600 in directories only their owner can enter;
 * - after a real speculative pair ran (and the admin API was used with the token), no workflow
 *   history, log line, `/metrics` or admin answer holds the admin token or any keypair's secret bytes,
 *   in any encoding they could take (JSON byte array, base58, base64, hex).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { encodeBase58 } from '../../activities/chain/base58';
import { startHttpServer } from '../../workers/http-server';
import { installRuntime } from '../../workers/runtime';
import { pollUntil } from '../helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, type TestSystem } from '../helpers/system';
import { http } from '../observability/helpers';

const ADMIN_TOKEN = `sec-${randomBytes(24).toString('hex')}`;
const logText: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText.push(chunk.toString('utf8'));
      cb();
    },
  }),
);

let sys: TestSystem;
let port: number;
let parent: string;
let child: string;

beforeAll(async () => {
  // Workflow and activity lines go through the Runtime's logger; capture them as production does.
  installRuntime(logger);
  sys = await startTestSystem({ name: 'sec', config: SPECULATIVE_CONFIG, worker: { logger, adminToken: ADMIN_TOKEN } });
  port = sys.worker.httpPort!;
  await sys.fundAgent('default');
  await sys.fundAgent('bob');
  parent = await sys.submit({ type: 'compute', payload: { value: 3 } });
  child = await sys.submit({ type: 'compute', payload: { value: 4 }, dependsOn: parent });
  expect((await sys.wait(child)).status).toBe('confirmed');
  expect((await sys.wait(parent)).status).toBe('confirmed');
  expect((await sys.wait(child)).speculation_status).toBe('speculative');
}, 180_000);
afterAll(() => sys?.close());

const bearer = () => ({ authorization: `Bearer ${ADMIN_TOKEN}` });

describe('admin API', () => {
  test.each([
    `/admin/config?token=${ADMIN_TOKEN}`,
    `/admin/config?access_token=${ADMIN_TOKEN}`,
    `/admin/config?authorization=${encodeURIComponent(`Bearer ${ADMIN_TOKEN}`)}`,
    `/admin/config?admin_token=${ADMIN_TOKEN}`,
  ])('the token in the query string is not a credential: POST %s is 401 and changes nothing', async (url) => {
    const before = (await http(port, 'GET', '/admin/status')).json.speculation.config_version;
    const res = await http(port, 'POST', url, {
      body: '{"speculation.features.rollout_percentage": 7}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(401);
    expect(res.text).not.toContain(ADMIN_TOKEN);
    expect((await http(port, 'GET', `/admin/config?token=${ADMIN_TOKEN}`)).status).toBe(401);
    expect((await http(port, 'GET', '/admin/status')).json.speculation.config_version).toBe(before);
  });

  test.each(['HEAD', 'OPTIONS', 'TRACE', 'PATCH', 'PUT', 'DELETE'])(
    '%s on the admin routes is refused (405), with or without the token',
    async (method) => {
      for (const route of [
        '/admin/config',
        '/admin/config/reload',
        '/admin/speculation/drain',
        '/admin/speculation/force-rollback',
      ]) {
        for (const headers of [{}, bearer()]) {
          const res = await http(port, method, route, { headers });
          expect({ method, route, status: res.status }).toEqual({ method, route, status: 405 });
        }
      }
    },
  );

  test('a body streamed without a length (chunked) over 64 KiB: 413, nothing changed', async () => {
    const before = (await http(port, 'GET', '/admin/status')).json.speculation.config_version;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/admin/config',
          headers: { ...bearer(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
      );
      req.write('{"speculation.features.rollout_percentage": 9, "pad": "');
      for (let i = 0; i < 20; i += 1) req.write('x'.repeat(8 * 1024));
      req.end('"}');
    });
    expect(status).toBe(413);
    expect((await http(port, 'GET', '/admin/status')).json.speculation.config_version).toBe(before);
  });
});

/** Local addresses (hex, as the kernel lists them) of the sockets listening on `port`. */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A')
      .map((f) => f[1]!.split(':')[0]!),
  );
}

describe('where the metrics/admin server listens', () => {
  test('a worker started without METRICS_HOST listens on 127.0.0.1 only', () => {
    expect(process.env.METRICS_HOST).toBeUndefined();
    expect(listeningAddresses(port)).toEqual(['0100007F']);
  });

  test('told otherwise (host 0.0.0.0), it listens on every interface', async () => {
    const server = await startHttpServer({
      client: sys.client,
      registry: new Registry(),
      logger,
      configFile: sys.configFile,
      rawConfig: () => sys.worker.config.raw,
      host: '0.0.0.0',
      port: 0,
    });
    try {
      expect(listeningAddresses(server.port)).toEqual(['00000000']);
    } finally {
      await server.close();
    }
  });
});

/** Every file under a directory, with its mode. */
function walk(dir: string): { file: string; mode: number; dir: boolean }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    const entry = { file: full, mode: statSync(full).mode & 0o777, dir: e.isDirectory() };
    return e.isDirectory() ? [entry, ...walk(full)] : [entry];
  });
}

const keysDir = () => path.join(sys.dir, 'keys');

describe('key files', () => {
  test('every key file is mode 600 and every key directory is closed to group and others', () => {
    const entries = walk(keysDir());
    const files = entries.filter((e) => !e.dir);
    // The authority and the two funded agents at least (the treasury's file appears with the first slash).
    expect(files.map((f) => path.relative(keysDir(), f.file))).toEqual(
      expect.arrayContaining(['agents/bob.json', 'agents/default.json', 'authority.json']),
    );
    expect(files.filter((f) => f.mode !== 0o600).map((f) => `${f.file} ${f.mode.toString(8)}`)).toEqual([]);
    expect(
      [{ mode: statSync(keysDir()).mode & 0o777 }, ...entries.filter((e) => e.dir)].filter((d) => d.mode & 0o077),
    ).toEqual([]);
  });
});

describe('no secret in histories, logs, /metrics or admin answers', () => {
  /** A secret key's 32 secret bytes (the last 32 of the file are the public key, which is public). */
  const secrets = () =>
    walk(keysDir())
      .filter((e) => !e.dir)
      .map((e) => ({
        file: path.relative(keysDir(), e.file),
        bytes: Buffer.from(JSON.parse(readFileSync(e.file, 'utf8')) as number[]),
      }));

  /** Every encoding the bytes could appear in. */
  function needles(name: string, full: Buffer): { what: string; text: string }[] {
    const seed = full.subarray(0, 32);
    const forms = (label: string, b: Buffer) => [
      { what: `${name} ${label} as a JSON byte array`, text: JSON.stringify([...b]) },
      { what: `${name} ${label} as a JSON byte array with spaces`, text: [...b].join(', ') },
      {
        what: `${name} ${label} as a serialized Uint8Array`,
        text: JSON.stringify({ ...Uint8Array.from(b) }).slice(1, -1),
      },
      { what: `${name} ${label} in base58`, text: encodeBase58(b) },
      { what: `${name} ${label} in base64`, text: b.toString('base64').replace(/=+$/, '') },
      { what: `${name} ${label} in base64url`, text: b.toString('base64url') },
      { what: `${name} ${label} in hex`, text: b.toString('hex') },
      { what: `${name} ${label} in HEX`, text: b.toString('hex').toUpperCase() },
    ];
    return [...forms('secret key', full), ...forms('seed', seed)];
  }

  /**
   * A history as text: every string and number in it, and every byte field (payloads) decoded as UTF-8
   * and given in base64 too. Walked by hand: JSON.stringify would call the protobuf messages' and
   * Buffers' own toJSON, leaving payloads in base64 only.
   */
  function historyText(value: unknown, out: string[] = []): string {
    if (value instanceof Uint8Array)
      out.push(Buffer.from(value).toString('utf8'), Buffer.from(value).toString('base64'));
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint')
      out.push(String(value));
    else if (value && typeof value === 'object') for (const v of Object.values(value)) historyText(v, out);
    return out.join('\n');
  }

  test('the admin token and the secret bytes of every key file appear nowhere', async () => {
    // Use the admin API with the token, so a server that logged or echoed credentials would show it.
    expect(
      (
        await http(port, 'POST', '/admin/config', {
          body: '{"speculation.features.rollout_percentage": 100}',
          headers: { ...bearer(), 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await http(port, 'POST', '/admin/config', {
          body: '{"nope": 1}',
          headers: { ...bearer(), 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(400);

    const haystacks: { where: string; text: string }[] = [];
    for await (const wf of sys.client.workflow.list()) {
      const history = await sys.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      haystacks.push({ where: `history of ${wf.workflowId}`, text: historyText(history) });
    }
    expect(haystacks.map((h) => h.where)).toEqual(
      expect.arrayContaining([
        `history of task-${parent}`,
        `history of task-${child}`,
        'history of speculation-control',
      ]),
    );
    for (const route of ['/metrics', '/admin/status', '/healthz'])
      haystacks.push({ where: `GET ${route}`, text: (await http(port, 'GET', route)).text });
    haystacks.push({
      where: 'GET /admin/config',
      text: (await http(port, 'GET', '/admin/config', { headers: bearer() })).text,
    });
    // Workflow lines reach the Runtime logger after their activation: wait until the pair's are in.
    await pollUntil(
      'log lines of the child task',
      async () => logText.join('').includes(`task-${child}`),
      Boolean,
      10_000,
      100,
    );
    haystacks.push({ where: 'the logs', text: logText.join('') });

    const keys = secrets();
    expect(keys.length).toBeGreaterThanOrEqual(3);
    const all = [{ what: 'the admin token', text: ADMIN_TOKEN }, ...keys.flatMap((k) => needles(k.file, k.bytes))];
    // The search reads decoded payloads: the child's bond address (base58, from its state) is found in its history.
    const bondAddress = (await sys.wait(child)).bond!.address;
    expect(haystacks.filter((h) => h.text.includes(bondAddress)).map((h) => h.where)).toContain(
      `history of task-${child}`,
    );
    const found = all.flatMap((n) =>
      haystacks.filter((h) => h.text.includes(n.text)).map((h) => `${n.what} in ${h.where}`),
    );
    expect(found).toEqual([]);
  });
});
