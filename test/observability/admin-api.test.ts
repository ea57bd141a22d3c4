/**
 * The worker's HTTP server as the runbook drives it, against a real system (a real worker on the
 * suite's Temporal dev server, started from the runbook's template: speculation disabled, 0%):
 * smoke test 4's metric greps, `/admin/status` for the post-rollback verification, the rollout
 * commands' `curl -d` bodies, the config reload, and every refusal (401, 400, 413, 503, 404, 405).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startHttpServer } from '../../workers/http-server';
import { startTestSystem, TEST_ADMIN_TOKEN, writeConfig, type TestSystem } from '../helpers/system';
import { curlData, grepStart, http, parseExposition, type HttpResult } from './helpers';

let sys: TestSystem;
let port: number;

beforeAll(async () => {
  // The runbook's template as is: speculation off, rollout at 0%.
  sys = await startTestSystem({ name: 'obs-admin', config: {} });
  port = sys.worker.httpPort!;
});
afterAll(() => sys?.close());

const status = async () => {
  const res = await http(port, 'GET', '/admin/status');
  expect(res.status).toBe(200);
  return res.json.speculation as Record<string, unknown>;
};
/** `token: null` sends no Authorization header. */
const postConfig = (body: string, token: string | null = TEST_ADMIN_TOKEN) =>
  http(port, 'POST', '/admin/config', curlData(token ?? undefined, body));
const reload = (token: string | null = TEST_ADMIN_TOKEN) =>
  http(port, 'POST', '/admin/config/reload', { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
const metricValue = (res: HttpResult, name: string, labels: Record<string, string> = {}) =>
  parseExposition(res.text).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;

describe('GET /metrics (fresh worker, no task run yet)', () => {
  let metrics: HttpResult;
  beforeAll(async () => {
    metrics = await http(port, 'GET', '/metrics');
  });

  test('answers 200 in the Prometheus text format', () => {
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(() => parseExposition(metrics.text)).not.toThrow();
  });

  // Smoke test 4, literally: `curl -s $METRICS_URL | grep -q "^$metric"` for each of the six. It runs
  // at deployment time, when a worker may not have started a single task.
  test.each([
    'speculation_tasks_total',
    'speculation_active_tasks',
    'speculation_rollback_total',
    'speculation_proof_generation_seconds',
    'speculation_memory_usage_bytes',
    'speculation_depth_histogram',
  ])('runbook smoke test 4: a line starts with %s', (metric) => {
    expect({ metric, found: grepStart(metrics.text, metric) }).toEqual({ metric, found: true });
  });

  test('the other speculation metrics are present with values that match the template', () => {
    const value = (name: string, labels?: Record<string, string>) => metricValue(metrics, name, labels);
    expect(value('speculation_proof_queue_depth')).toBe(0);
    expect(value('speculation_proof_queue_capacity')).toBe(2000); // [speculation.proof] queue_size of the template
    expect(value('speculation_stake_at_risk_lamports')).toBe(0);
    expect(value('speculation_hits_total')).toBe(0);
    expect(value('speculation_misses_total')).toBe(0);
    expect(value('speculation_bonds_slashed_total')).toBe(0);
    expect(value('speculation_rollout_percentage')).toBe(0);
    expect(value('speculation_enabled')).toBe(0);
    expect(value('speculation_active_tasks')).toBe(0);
    expect(value('speculation_rollback_total', { reason: 'parent_failed' })).toBe(0);
    expect(value('speculation_memory_usage_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('speculation_proof_generation_seconds_count')).toBe(0);
    expect(value('speculation_depth_histogram_count')).toBe(0);
  });

  test('Node process metrics are exported', () => {
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect({ name, value: metricValue(metrics, name) }).toEqual({ name, value: expect.any(Number) });
    }
    expect(metricValue(metrics, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('GET /admin/status (open, read-only)', () => {
  test('answers without a token in the runbook shape', async () => {
    const res = await http(port, 'GET', '/admin/status');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json).toEqual({
      speculation: expect.objectContaining({
        enabled: false,
        active_tasks: 0,
        pending_rollbacks: 0,
        rollout_percentage: 0,
        mode: 'conservative',
      }),
    });
  });

  test('GET /healthz answers ok', async () => {
    expect(await http(port, 'GET', '/healthz')).toMatchObject({ status: 200, json: { ok: true } });
  });
});

describe('POST /admin/config refusals', () => {
  let versionBefore: unknown;
  beforeAll(async () => {
    versionBefore = (await status()).config_version;
  });
  afterAll(async () => {
    // No refusal may have changed anything.
    expect((await status()).config_version).toBe(versionBefore);
  });

  const runbookBody = '{"speculation.enabled": true, "speculation.features.rollout_percentage": 1.0}';

  test('without a token: 401 naming the header to send', async () => {
    const res = await postConfig(runbookBody, null);
    expect(res.status).toBe(401);
    expect(res.json.error).toMatch(/Authorization: Bearer/);
  });

  test.each([
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['the token with a suffix', { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }],
    ['a prefix of the token', { authorization: `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}` }],
    ['the token under another scheme', { authorization: `Basic ${TEST_ADMIN_TOKEN}` }],
    ['the token without a scheme', { authorization: TEST_ADMIN_TOKEN }],
  ])('with %s: 401', async (_what, headers) => {
    const res = await http(port, 'POST', '/admin/config', {
      body: runbookBody,
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(res.status).toBe(401);
  });

  test('the other admin writes need the token too (401, nothing done)', async () => {
    for (const path of ['/admin/config/reload', '/admin/speculation/drain', '/admin/speculation/force-rollback']) {
      const res = await http(port, 'POST', path);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
    }
    expect((await http(port, 'GET', '/admin/config')).status).toBe(401);
    expect((await status()).draining).toBe(false);
  });

  test('malformed JSON: 400 naming the JSON problem', async () => {
    const res = await postConfig('{"speculation.enabled": tru}');
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(/not valid JSON/);
    // JSON.parse's own detail (what and where), not just "bad request".
    expect(res.json.error).toMatch(/Unexpected token|Expected|position/);
  });

  test.each([
    ['an empty body', ''],
    ['a JSON array', '[{"speculation.enabled": true}]'],
    ['an empty object', '{}'],
    ['a JSON string', '"speculation.enabled=true"'],
  ])('%s: 400 asking for an object of dotted keys', async (_what, body) => {
    const res = await postConfig(body);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(/JSON object of dotted keys/);
  });

  test('an unknown key: 400 naming the key', async () => {
    const res = await postConfig('{"speculation.features.rollout_percentag": 5}');
    expect(res.status).toBe(400);
    expect(res.json.error).toContain('speculation.features.rollout_percentag');
    expect(res.json.error).toMatch(/not a known key/);
  });

  test('an out-of-range value: 400 naming the key and the range', async () => {
    const res = await postConfig('{"speculation.max_depth": 99}');
    expect(res.status).toBe(400);
    expect(res.json.error).toContain('speculation.max_depth');
    expect(res.json.error).toContain('99');
    expect(res.json.error).toMatch(/speculation\.max_depth = 99 is out of range: allowed .*\[1, 20\]/);
  });

  test('a value of the wrong type: 400 naming the key', async () => {
    const res = await postConfig('{"speculation.enabled": "yes"}');
    expect(res.status).toBe(400);
    expect(res.json.error).toContain('speculation.enabled');
  });

  test('speculation.proof.worker_threads live: 400 saying it needs a restart of the proof workers, nothing changed', async () => {
    const before = await status();
    const res = await postConfig('{"speculation.proof.worker_threads": 4}');
    expect(res.status).toBe(400);
    expect(res.json.error).toContain('speculation.proof.worker_threads cannot change live');
    expect(res.json.error).toContain('restart the agenc-proofs workers');
    expect((await status()).config_version).toBe(before.config_version);
  });

  test('a body over 64 KiB: 413', async () => {
    const big = JSON.stringify({ 'speculation.mode': 'balanced', padding: 'x'.repeat(70 * 1024) });
    const res = await postConfig(big);
    expect(res.status).toBe(413);
    expect(res.json.error).toMatch(/larger than 65536 bytes/);
  });

  test('a body over 64 KiB without a token: 401, the body is not read', async () => {
    const res = await postConfig(JSON.stringify({ padding: 'x'.repeat(70 * 1024) }), null);
    expect(res.status).toBe(401);
  });
});

describe('POST /admin/config, accepted (the runbook rollout and rollback commands)', () => {
  test('a body of exactly 64 KiB is within the limit', async () => {
    const core = '{"speculation.mode": "conservative"}';
    const body = core + ' '.repeat(64 * 1024 - core.length);
    expect(Buffer.byteLength(body)).toBe(64 * 1024);
    const res = await postConfig(body);
    expect(res.status).toBe(200);
  });

  test('phase 1 (canary) as curl -d sends it: 200, and /admin/status and /metrics reflect it', async () => {
    const before = await status();
    const res = await postConfig('{"speculation.enabled": true, "speculation.features.rollout_percentage": 1.0}');
    expect(res.status).toBe(200);
    expect(res.json.speculation).toMatchObject({ enabled: true, rollout_percentage: 1 });
    expect(res.json.speculation.config_version).toBe((before.config_version as number) + 1);

    expect(await status()).toMatchObject({
      enabled: true,
      rollout_percentage: 1,
      config_version: res.json.speculation.config_version,
    });
    const metrics = await http(port, 'GET', '/metrics');
    expect(metricValue(metrics, 'speculation_enabled')).toBe(1);
    expect(metricValue(metrics, 'speculation_rollout_percentage')).toBe(1);

    const config = await http(port, 'GET', '/admin/config', {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(config.status).toBe(200);
    expect(config.json.config.speculation).toMatchObject({
      enabled: true,
      features: expect.objectContaining({ rollout_percentage: 1 }),
    });
    // The same as the dotted keys POST takes: what is read here can be sent back there.
    expect(config.json.keys).toMatchObject({
      'speculation.enabled': true,
      'speculation.features.rollout_percentage': 1,
    });
  });

  test('phase 2 changes only the percentage', async () => {
    const res = await postConfig('{"speculation.features.rollout_percentage": 5.0}');
    expect(res.status).toBe(200);
    expect(await status()).toMatchObject({ enabled: true, rollout_percentage: 5 });
  });

  test('emergency rollback step 1, then the post-rollback verification shows the expected output', async () => {
    const res = await postConfig('{"speculation.enabled": false}');
    expect(res.status).toBe(200);
    // `curl -s localhost:9090/admin/status | jq '.speculation'`
    expect(await status()).toMatchObject({ enabled: false, active_tasks: 0, pending_rollbacks: 0 });
    expect(metricValue(await http(port, 'GET', '/metrics'), 'speculation_enabled')).toBe(0);
  });
});

describe('POST /admin/config/reload', () => {
  test('re-reads the TOML file the worker was started with', async () => {
    const before = await status();
    expect(
      writeConfig(sys.dir, {
        speculation: { enabled: true, mode: 'aggressive', features: { rollout_percentage: 25 } },
      }),
    ).toBe(sys.configFile);
    const res = await reload();
    expect(res.status).toBe(200);
    expect(res.json.reloaded_from).toBe(sys.configFile);
    expect(res.json.speculation).toMatchObject({ enabled: true, mode: 'aggressive', rollout_percentage: 25 });
    expect(await status()).toMatchObject({
      enabled: true,
      mode: 'aggressive',
      rollout_percentage: 25,
      config_version: (before.config_version as number) + 1,
    });
  });

  test('a file with a TOML syntax error: 400 naming line and column, nothing changed', async () => {
    const before = await status();
    const good = readFileSync(sys.configFile, 'utf8');
    // Line 3 is broken at column 11 (the value after "max_depth = " is not a value).
    writeFileSync(sys.configFile, '[speculation]\nenabled = false\nmax_depth = = 3\n');
    try {
      const res = await reload();
      expect(res.status).toBe(400);
      expect(res.json.error).toContain(sys.configFile);
      const m = /:(\d+):(\d+): TOML syntax error/.exec(res.json.error);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBe(3);
      expect(Number(m![2])).toBeGreaterThanOrEqual(11);
      expect(Number(m![2])).toBeLessThanOrEqual(14);
    } finally {
      writeFileSync(sys.configFile, good);
    }
    expect(await status()).toMatchObject({ config_version: before.config_version, mode: before.mode });
  });

  test('a file with an out-of-range value: 400 listing the problem by key', async () => {
    const before = await status();
    const good = readFileSync(sys.configFile, 'utf8');
    writeConfig(sys.dir, { speculation: { max_depth: 99 } });
    try {
      const res = await reload();
      expect(res.status).toBe(400);
      expect(res.json.problems).toEqual([expect.stringMatching(/^speculation\.max_depth = 99 .*\[1, 20\]/)]);
    } finally {
      writeFileSync(sys.configFile, good);
    }
    expect((await status()).config_version).toBe(before.config_version);
  });
});

describe('routing', () => {
  test('an unknown route: 404', async () => {
    const res = await http(port, 'GET', '/admin/nope');
    expect(res.status).toBe(404);
    expect(res.json.error).toContain('/admin/nope');
  });

  test.each([
    ['DELETE', '/admin/config', /GET \/admin\/config, POST \/admin\/config|POST \/admin\/config, GET \/admin\/config/],
    ['GET', '/admin/config/reload', /POST \/admin\/config\/reload/],
    ['POST', '/metrics', /GET \/metrics/],
    ['PUT', '/admin/status', /GET \/admin\/status/],
  ])('%s %s: 405 naming the allowed methods', async (method, path, allowed) => {
    const res = await http(port, method, path, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(res.status).toBe(405);
    expect(res.json.error).toMatch(allowed);
  });
});

describe('admin routes on a server started without a token', () => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean))
          lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const start = (extra: { adminToken?: string; insecureLocalAdmin?: boolean }) =>
    startHttpServer({
      client: sys.client,
      registry: new Registry(),
      logger,
      configFile: sys.configFile,
      rawConfig: () => sys.worker.config.raw,
      port: 0,
      ...extra,
    });

  test.each([
    ['an empty token', { adminToken: '' }],
    ['no token', {}],
  ])(
    'with %s: admin writes answer 503 (with or without an Authorization header), reads stay open',
    async (_what, extra) => {
      lines.length = 0;
      const server = await start(extra);
      try {
        const before = await status();
        for (const headers of [
          {},
          { authorization: 'Bearer ' },
          { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        ] as Record<string, string>[]) {
          for (const path of [
            '/admin/config',
            '/admin/config/reload',
            '/admin/speculation/drain',
            '/admin/speculation/force-rollback',
          ]) {
            const res = await http(server.port, 'POST', path, { body: '{"speculation.enabled": true}', headers });
            expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 503 });
            expect(res.json.error).toMatch(/ADMIN_TOKEN/);
          }
        }
        expect((await http(server.port, 'GET', '/admin/config')).status).toBe(503);
        expect(await http(server.port, 'GET', '/admin/status')).toMatchObject({
          status: 200,
          json: { speculation: { enabled: before.enabled } },
        });
        expect((await http(server.port, 'GET', '/metrics')).status).toBe(200);
        expect((await status()).config_version).toBe(before.config_version);
        expect(lines).toContainEqual(
          expect.objectContaining({
            level: 40,
            msg: expect.stringMatching(/ADMIN_TOKEN is empty: admin routes are disabled/),
          }),
        );
      } finally {
        await server.close();
      }
    },
  );

  test('with insecureLocalAdmin (local development): admin writes work without a token', async () => {
    const server = await start({ adminToken: '', insecureLocalAdmin: true });
    try {
      const res = await http(
        server.port,
        'POST',
        '/admin/config',
        curlData(undefined, '{"speculation.features.rollout_percentage": 50}'),
      );
      expect(res.status).toBe(200);
      expect(await status()).toMatchObject({ rollout_percentage: 50 });
    } finally {
      await server.close();
    }
  });
});
