/**
 * Prometheus and Alertmanager configuration, checked by the tools that will load it:
 * `promtool check rules`, `promtool test rules` (unit tests in config/prometheus/tests/),
 * `promtool check config`, and `amtool check-config`. A missing tool fails the suite: these
 * checks are the only thing standing between a typo and an alert that never fires.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const repoRoot = path.resolve(__dirname, '..', '..');
const prometheusDir = path.join(repoRoot, 'config', 'prometheus');
const rulesFile = path.join(prometheusDir, 'rules', 'speculation.rules.yml');
const testsDir = path.join(prometheusDir, 'tests');
const alertmanagerFile = path.join(repoRoot, 'config', 'alertmanager', 'alertmanager.yml');

function run(tool: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(tool, args, { cwd: repoRoot, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const DEBIAN_PACKAGE = { promtool: 'prometheus', amtool: 'prometheus-alertmanager' } as const;

/** Fails with an install hint instead of skipping when the tool is not on PATH. */
function requireTool(tool: 'promtool' | 'amtool'): void {
  const debianPackage = DEBIAN_PACKAGE[tool];
  const probe = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      `${tool} is not installed (or not on PATH): install Debian's ${debianPackage} package ` +
        `(apt-get install -y ${debianPackage}); these checks must run, they are never skipped.`,
    );
  }
}

function expectSuccess(tool: 'promtool' | 'amtool', args: string[]): void {
  requireTool(tool);
  const { status, output } = run(tool, args);
  if (status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${status}:\n${output}`);
}

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RulesFile {
  groups: { name: string; rules: AlertRule[] }[];
}

function loadRules(): AlertRule[] {
  const parsed = parse(readFileSync(rulesFile, 'utf8')) as RulesFile;
  return parsed.groups.flatMap((group) => group.rules);
}

describe('Prometheus rules', () => {
  it('pass promtool check rules', () => {
    expectSuccess('promtool', ['check', 'rules', rulesFile]);
  });

  it('pass their unit tests (promtool test rules)', () => {
    const testFiles = readdirSync(testsDir)
      .filter((name) => name.endsWith('.yml'))
      .map((name) => path.join(testsDir, name));
    expect(testFiles.length).toBeGreaterThan(0);
    expectSuccess('promtool', ['test', 'rules', ...testFiles]);
  });

  it('give every alert a P1/P2/P3 severity, component="speculation", a summary and the runbook action', () => {
    const alerts = loadRules().filter((rule) => rule.alert !== undefined);
    expect(alerts.map((rule) => rule.alert).sort()).toEqual([
      'SpeculationActiveTasksStuck',
      'SpeculationAutoDisabled',
      'SpeculationControlUnreadable',
      'SpeculationDepthNearLimit',
      'SpeculationMemoryGrowthHigh',
      'SpeculationMemoryNearLimit',
      'SpeculationProofQueueNearCapacity',
      'SpeculationProofSlow',
      'SpeculationRollbackRateCritical',
      'SpeculationRollbackRateElevated',
      'SpeculationSlashed',
      'SpeculationStakeExhausted',
      'SpeculationWorkerDown',
    ]);
    for (const rule of alerts) {
      // The alert name rides along so a failure says which rule is wrong.
      expect(`${rule.alert} severity=${rule.labels?.severity}`).toMatch(/ severity=P[123]$/);
      expect(`${rule.alert} component=${rule.labels?.component}`).toMatch(/ component=speculation$/);
      expect(`${rule.alert} summary=${rule.annotations?.summary ?? ''}`).toMatch(/ summary=\S/);
      expect(`${rule.alert} runbook_action=${rule.annotations?.runbook_action ?? ''}`).toMatch(/ runbook_action=\S/);
    }
  });

  it('have a unit test for every alert', () => {
    const tested = readdirSync(testsDir)
      .filter((name) => name.endsWith('.yml'))
      .flatMap((name) => {
        const suite = parse(readFileSync(path.join(testsDir, name), 'utf8')) as {
          tests: { alert_rule_test?: { alertname: string }[] }[];
        };
        return suite.tests.flatMap((test) => (test.alert_rule_test ?? []).map((case_) => case_.alertname));
      });
    const alerts = loadRules().flatMap((rule) => (rule.alert === undefined ? [] : [rule.alert]));
    for (const alert of alerts) expect(tested).toContain(alert);
  });
});

describe('Prometheus configuration', () => {
  it('passes promtool check config (which also loads its rule files)', () => {
    requireTool('promtool');
    const { status, output } = run('promtool', ['check', 'config', path.join(prometheusDir, 'prometheus.yml')]);
    if (status !== 0) throw new Error(`promtool check config exited ${status}:\n${output}`);
    expect(output).toMatch(/1 rule files found/);
  });

  it('scrapes the worker as job agenc on 9090 and the Temporal SDK telemetry on 9464', () => {
    const config = parse(readFileSync(path.join(prometheusDir, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    const targetsOf = (job: string): string[] =>
      config.scrape_configs
        .filter((scrape) => scrape.job_name === job)
        .flatMap((scrape) => (scrape.static_configs ?? []).flatMap((group) => group.targets));
    expect(targetsOf('agenc')).toContain('worker:9090');
    expect(targetsOf('temporal-worker-sdk')).toContain('worker:9464');
  });
});

describe('Alertmanager configuration', () => {
  it('passes amtool check-config', () => {
    expectSuccess('amtool', ['check-config', alertmanagerFile]);
  });

  it.each([
    [['severity=P1', 'component=speculation'], 'speculation-p1'],
    [['severity=P2', 'component=speculation'], 'speculation'],
    [['severity=P3', 'component=speculation'], 'speculation'],
  ])('routes %j to %s', (labels, receiver) => {
    requireTool('amtool');
    const { status, output } = run('amtool', [
      'config',
      'routes',
      'test',
      `--config.file=${alertmanagerFile}`,
      ...labels,
    ]);
    expect(status).toBe(0);
    expect(
      output
        .split('\n')
        .filter((line) => !line.startsWith('Warning:'))
        .join('\n')
        .trim(),
    ).toBe(receiver);
  });
});
