/**
 * docker-compose.yml, the Dockerfile and the Grafana assets, checked by construction: no Docker
 * engine runs here, so the test parses them and holds them to the production shape (services,
 * ports, volumes), to the files they mount, and to each other (Prometheus targets are compose
 * services, the dashboard's queries name metrics the worker exports or rules Prometheus records).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Client } from '@temporalio/client';
import { selectMetricSource } from '../../activities/rollout-metrics';
import { createMetrics } from '../../workers/metrics';

const repoRoot = path.resolve(__dirname, '..', '..');
const readRepoFile = (relative: string): string => readFileSync(path.join(repoRoot, relative), 'utf8');
/** Compose files use merge keys (`<<: *agenc-worker`); YAML 1.2 needs them switched on. */
const parseYaml = (relative: string): unknown => parse(readRepoFile(relative), { merge: true });

interface Healthcheck {
  test: string[] | string;
}
interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const compose = parseYaml('docker-compose.yml') as Compose;

function service(name: string): Service {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function mounts(name: string): { source: string; target: string }[] {
  return (service(name).volumes ?? []).map((spec) => {
    const [source = '', target = ''] = spec.split(':');
    return { source, target };
  });
}

function mountTarget(serviceName: string, source: string): string {
  const mount = mounts(serviceName).find((candidate) => candidate.source === source);
  if (mount === undefined) throw new Error(`service ${serviceName} does not mount ${source}`);
  return mount.target;
}

/** Ports a service listens on inside the compose network: published container ports and `expose`. */
function containerPorts(name: string): number[] {
  const published = (service(name).ports ?? []).map((spec) => Number(spec.split(':').at(-1)));
  const exposed = (service(name).expose ?? []).map(Number);
  return [...published, ...exposed];
}

describe('docker-compose.yml', () => {
  it.each([
    ['postgresql', 'postgres:16', []],
    ['temporal', 'temporalio/auto-setup:', ['127.0.0.1:7233:7233']],
    ['temporal-ui', 'temporalio/ui:', ['127.0.0.1:8233:8080']],
    ['worker', 'agenc-speculate:', ['127.0.0.1:9090:9090', '127.0.0.1:9464:9464']],
    ['proof-worker', 'agenc-speculate:', []],
    ['prometheus', 'prom/prometheus:', ['127.0.0.1:9091:9090']],
    ['alertmanager', 'prom/alertmanager:', ['127.0.0.1:9093:9093']],
    ['grafana', 'grafana/grafana:', ['127.0.0.1:3000:3000']],
  ])('has service %s (image %s) publishing %j', (name, imagePrefix, ports) => {
    expect(service(name).image?.startsWith(imagePrefix)).toBe(true);
    expect(service(name).ports ?? []).toEqual(ports);
  });

  it("publishes every port on the host's loopback only (Temporal, its UI, Prometheus and Alertmanager take unauthenticated writes)", () => {
    const published = Object.entries(compose.services).flatMap(([name, svc]) =>
      (svc.ports ?? []).map((spec) => `${name} ${String(spec)}`),
    );
    expect(published.length).toBeGreaterThan(0);
    // host-ip:host-port:container-port; a spec without the host ip binds every interface.
    for (const spec of published) expect(spec).toMatch(/^[\w-]+ 127\.0\.0\.1:\d+:\d+$/);
  });

  it("turns the Temporal UI's write actions off unless TEMPORAL_DISABLE_WRITE_ACTIONS=false", () => {
    const value = service('temporal-ui').environment?.TEMPORAL_DISABLE_WRITE_ACTIONS;
    expect(value).toBe('${TEMPORAL_DISABLE_WRITE_ACTIONS:-true}');
  });

  it('runs Temporal on the Postgres service', () => {
    const temporal = service('temporal');
    expect(temporal.environment).toMatchObject({ DB: 'postgres12', DB_PORT: '5432', POSTGRES_SEEDS: 'postgresql' });
    expect(temporal.depends_on?.postgresql?.condition).toBe('service_healthy');
    expect(service('temporal-ui').environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('builds both workers from the repo Dockerfile with the runtime environment and the .data volume', () => {
    for (const name of ['worker', 'proof-worker']) {
      const worker = service(name);
      expect(worker.build).toBe('.');
      expect(worker.environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233', METRICS_PORT: '9090' });
      expect(worker.environment?.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN[:?}]/);
      expect(worker.environment).toHaveProperty('SOLANA_RPC_URL');
      expect(worker.volumes).toContain('agenc-data:/app/.data');
    }
    expect(service('worker').command).toBeUndefined();
    expect(service('proof-worker').command).toEqual(['npx', 'tsx', 'workers/main.ts', '--queues', 'agenc-proofs']);
  });

  it('declares and uses named volumes for Postgres, Prometheus and Grafana data', () => {
    expect(mountTarget('postgresql', 'postgres-data')).toBe('/var/lib/postgresql/data');
    expect(mountTarget('prometheus', 'prometheus-data')).toBe('/prometheus');
    expect(mountTarget('grafana', 'grafana-data')).toBe('/var/lib/grafana');
    const named = Object.values(compose.services)
      .flatMap((svc) => svc.volumes ?? [])
      .map((spec) => spec.split(':')[0] ?? '')
      .filter((source) => !source.startsWith('.') && !source.startsWith('/'));
    for (const volume of named) expect(Object.keys(compose.volumes)).toContain(volume);
  });

  it('has a healthcheck on every long-running service except the UI', () => {
    for (const name of ['postgresql', 'temporal', 'worker', 'proof-worker', 'prometheus', 'alertmanager', 'grafana']) {
      expect(`${name}: ${JSON.stringify(service(name).healthcheck?.test ?? null)}`).not.toMatch(/: null$/);
    }
  });

  it('mounts only files and directories that exist in the repo', () => {
    const bindSources = Object.values(compose.services)
      .flatMap((svc) => svc.volumes ?? [])
      .map((spec) => spec.split(':')[0] ?? '')
      .filter((source) => source.startsWith('./'));
    expect(bindSources.length).toBeGreaterThan(0);
    for (const source of bindSources)
      expect(`${source} exists: ${existsSync(path.join(repoRoot, source))}`).toBe(`${source} exists: true`);
  });

  it('points Prometheus and Alertmanager at the mounted config files', () => {
    const prometheusConfigDir = mountTarget('prometheus', './config/prometheus');
    expect(service('prometheus').command).toContain(`--config.file=${prometheusConfigDir}/prometheus.yml`);
    const alertmanagerConfig = mountTarget('alertmanager', './config/alertmanager/alertmanager.yml');
    expect(service('alertmanager').command).toContain(`--config.file=${alertmanagerConfig}`);
  });

  it('has the worker judge rollouts from the compose Prometheus (and P1 alerts from Alertmanager), not from Temporal visibility', () => {
    // The visibility fallback sees neither P1 alerts nor memory growth, so a rollout on it holds at
    // every phase; compose runs Prometheus, and the worker must use it.
    const env = service('worker').environment ?? {};
    const source = selectMetricSource({ client: {} as Client, env: { ...env } });
    expect(source.name).toBe('prometheus');
    expect(env.AGENC_ROLLOUT_METRICS).toBe('prometheus');
    for (const [key, target] of [
      ['PROMETHEUS_URL', 'prometheus'],
      ['ALERTMANAGER_URL', 'alertmanager'],
    ] as const) {
      const url = new URL(env[key] ?? 'http://unset');
      expect(`${key} host ${url.hostname}`).toBe(`${key} host ${target}`);
      expect(`${key} port ${url.port} listens: ${containerPorts(target).includes(Number(url.port))}`).toBe(
        `${key} port ${url.port} listens: true`,
      );
    }
  });

  it('scrapes compose services on the ports they listen on', () => {
    const prometheus = parseYaml('config/prometheus/prometheus.yml') as {
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
    };
    const targets = prometheus.scrape_configs
      .filter((scrape) => scrape.job_name !== 'prometheus')
      .flatMap((scrape) => [
        ...(scrape.static_configs ?? []).flatMap((group) => group.targets),
        ...(scrape.dns_sd_configs ?? []).flatMap((sd) => sd.names.map((name) => `${name}:${sd.port}`)),
      ]);
    targets.push(
      ...prometheus.alerting.alertmanagers.flatMap((am) => am.static_configs.flatMap((group) => group.targets)),
    );
    expect(targets).toEqual(
      expect.arrayContaining([
        'worker:9090',
        'worker:9464',
        'proof-worker:9090',
        'proof-worker:9464',
        'alertmanager:9093',
      ]),
    );
    for (const target of targets) {
      const [host = '', port = ''] = target.split(':');
      expect(`${target} listens: ${containerPorts(host).includes(Number(port))}`).toBe(`${target} listens: true`);
    }
  });
});

describe('Grafana provisioning', () => {
  it('serves the dashboards directory from the path the provider reads', () => {
    const provider = parseYaml('config/grafana/provisioning/dashboards/speculation.yml') as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.providers[0]?.options.path).toBe(mountTarget('grafana', './config/grafana/dashboards'));
    expect(mountTarget('grafana', './config/grafana/provisioning')).toBe('/etc/grafana/provisioning');
  });

  it('provisions the Prometheus datasource the dashboard refers to, at the prometheus service', () => {
    const datasources = parseYaml('config/grafana/provisioning/datasources/prometheus.yml') as {
      datasources: { uid: string; type: string; url: string }[];
    };
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    expect(containerPorts('prometheus')).toContain(9090);
  });
});

// Metrics the worker exports (the fixed list), plus prom-client's default process metrics.
// What the worker exports, from its own registry (one source of truth): a histogram as its three series.
const exportedMetrics = new Set(
  createMetrics()
    .registry.getMetricsAsArray()
    .flatMap((m) =>
      (m as unknown as { type: string }).type === 'histogram'
        ? ['_bucket', '_sum', '_count'].map((x) => m.name + x)
        : [m.name],
    ),
);
const isDefaultProcessMetric = (name: string): boolean => /^(process|nodejs)_/.test(name);

function recordingRules(): Set<string> {
  const rules = parseYaml('config/prometheus/rules/speculation.rules.yml') as {
    groups: { rules: { record?: string }[] }[];
  };
  return new Set(rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.record ? [rule.record] : []))));
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'group_left', 'group_right']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or durations. */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = stripped.slice((match.index ?? 0) + match[0].length);
    if (/^\s*\(/.test(rest) || PROMQL_KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

describe('metricNamesIn', () => {
  it('finds metric and rule names, not functions, labels, ranges, offsets or numbers', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le) (rate(speculation_proof_generation_seconds_bucket{job="agenc"}[$__rate_interval]))) ' +
          '/ on (instance) speculation:memory_growth:ratio1h offset 1h and foo_total > 1e9',
      ),
    ).toEqual(['speculation_proof_generation_seconds_bucket', 'speculation:memory_growth:ratio1h', 'foo_total']);
  });
});

describe('Prometheus rules file', () => {
  it('reads only metrics the worker exports, its own recording rules, and up', () => {
    const known = recordingRules();
    const rules = parseYaml('config/prometheus/rules/speculation.rules.yml') as {
      groups: { rules: { expr: string }[] }[];
    };
    for (const rule of rules.groups.flatMap((group) => group.rules)) {
      const unknown = metricNamesIn(rule.expr).filter(
        (name) => !exportedMetrics.has(name) && !known.has(name) && name !== 'up',
      );
      expect(`${rule.expr.trim()} unknown ${JSON.stringify(unknown)}`).toMatch(/ unknown \[\]$/);
    }
  });
});

describe('Grafana dashboard speculation-overview', () => {
  interface Panel {
    type: string;
    title: string;
    targets?: { expr?: string }[];
  }
  const dashboard = JSON.parse(readRepoFile('config/grafana/dashboards/speculation-overview.json')) as {
    uid: string;
    title: string;
    panels: Panel[];
  };
  const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

  it('parses with uid speculation-overview and title "Speculation Overview"', () => {
    expect(dashboard.uid).toBe('speculation-overview');
    expect(dashboard.title).toBe('Speculation Overview');
  });

  it('queries only metrics the worker exports or rules Prometheus records', () => {
    const known = recordingRules();
    for (const panel of panels) {
      const exprs = (panel.targets ?? []).map((target) => target.expr ?? '');
      expect(`${panel.title}: ${exprs.length}`).not.toBe(`${panel.title}: 0`);
      for (const expr of exprs) {
        const names = metricNamesIn(expr);
        expect(`${panel.title}: ${expr} names ${names.length}`).not.toMatch(/ names 0$/);
        const unknown = names.filter(
          (name) => !exportedMetrics.has(name) && !known.has(name) && !isDefaultProcessMetric(name),
        );
        expect(`${panel.title}: ${expr} unknown ${JSON.stringify(unknown)}`).toMatch(/ unknown \[\]$/);
      }
    }
  });

  it('covers the core metrics', () => {
    const queried = new Set(
      panels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => metricNamesIn(target.expr ?? ''))),
    );
    const rules = parseYaml('config/prometheus/rules/speculation.rules.yml') as {
      groups: { rules: { record?: string; expr: string }[] }[];
    };
    // A recording rule stands for the metrics it is computed from.
    for (const rule of rules.groups.flatMap((group) => group.rules)) {
      if (rule.record && queried.has(rule.record)) for (const name of metricNamesIn(rule.expr)) queried.add(name);
    }
    for (const metric of [
      'speculation_tasks_total',
      'speculation_active_tasks',
      'speculation_rollback_total',
      'speculation_proof_generation_seconds_bucket',
      'speculation_proof_queue_depth',
      'speculation_proof_queue_capacity',
      'speculation_memory_usage_bytes',
      'speculation_depth_histogram_bucket',
      'speculation_stake_at_risk_lamports',
      'speculation_bonds_slashed_total',
      'speculation_slashed_lamports_total',
      'speculation_rollout_phase',
      'speculation_rollout_percentage',
    ]) {
      expect(queried).toContain(metric);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readRepoFile('Dockerfile');

  it('builds on node:20-slim with npm ci and runs the worker with tsx', () => {
    expect(dockerfile).toMatch(/^FROM node:20-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^CMD \["npx", "tsx", "workers\/main\.ts"\]$/m);
    expect(dockerfile).toMatch(/^EXPOSE 9090 9464$/m);
  });
});
