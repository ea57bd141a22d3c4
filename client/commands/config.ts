/** `agenc config validate|show|set`; `set` goes through the admin API (`POST /admin/config`) with the token. */
import type { Command } from 'commander';
import { readTomlFile, applyEnvOverrides, TomlSyntaxError } from '../../config/load';
import {
  applyDottedChanges,
  type ConfigProblem,
  formatProblem,
  NUMERIC_RULES,
  parseConfig,
  MODES,
  ROLLBACK_POLICIES,
  type SpeculationConfig,
} from '../../config/schema';
import { controlStatus, type statusBody } from '../../temporal/control';
import { adminRequest } from '../admin';
import { CliError, emit, EXIT, type OutputOptions, withOutput } from '../output';
import type { AdminFactory, ClientFactory } from './context';

export interface CheckLine {
  ok: boolean;
  check: string;
  problem?: string;
}

function ruleText(path: string): string {
  const rule = NUMERIC_RULES.find((r) => r.path === path)!;
  if (rule.min !== undefined && rule.max !== undefined && rule.max !== Number.MAX_SAFE_INTEGER)
    return `${path} within range [${rule.min}, ${rule.max}]`;
  if (rule.min !== undefined) return `${path} >= ${rule.min}`;
  return `${path} <= ${rule.max}`;
}

/** The runbook's check lines (Step 3), one per rule, each ✓ or ✗ with the problem. */
export function validationReport(
  raw: unknown,
  strict: boolean,
  envProblems: ConfigProblem[] = [],
): { valid: boolean; checks: CheckLine[]; config?: SpeculationConfig } {
  const result = parseConfig(raw, { strict });
  const problems = [...envProblems, ...(result.ok ? [] : result.problems)];
  const claimed = new Set<ConfigProblem>();
  const problemFor = (match: (p: ConfigProblem) => boolean) => {
    const found = problems.filter(match);
    found.forEach((p) => claimed.add(p));
    return found.length ? found.map(formatProblem).join('; ') : undefined;
  };
  const checks: CheckLine[] = [];
  const add = (check: string, problem: string | undefined) =>
    checks.push({ ok: !problem, check, ...(problem ? { problem } : {}) });

  const values = (path: string) => (p: ConfigProblem) =>
    p.kind === 'value' && (p.path === path || p.path.startsWith(`${path} `));
  for (const rule of NUMERIC_RULES) add(ruleText(rule.path), problemFor(values(rule.path)));
  add(
    'speculation.stake.min_stake <= speculation.stake.max_stake',
    problemFor((p) => p.kind === 'cross_key'),
  );
  add(`speculation.mode is one of ${MODES.join(', ')}`, problemFor(values('speculation.mode')));
  add(
    `speculation.rollback_policy is one of ${ROLLBACK_POLICIES.join(', ')}`,
    problemFor(values('speculation.rollback_policy')),
  );
  add('speculation.proof.generator is valid', problemFor(values('speculation.proof.generator')));
  if (strict) {
    add(
      'No unknown keys',
      problemFor((p) => p.kind === 'unknown_key'),
    );
    add(
      'Feature flag combinations are valid',
      problemFor((p) => p.kind === 'feature_flag'),
    );
  }
  // Anything no line above speaks for (a wrong type for a boolean, an environment variable) still fails the file.
  for (const p of problems) if (!claimed.has(p)) add(`${p.path} is valid`, formatProblem(p));
  const valid = checks.every((c) => c.ok);
  return { valid, checks, config: valid && result.ok ? result.config : undefined };
}

export function registerConfigCommands(
  program: Command,
  clientFactory: ClientFactory,
  adminFactory: AdminFactory,
): void {
  const config = program.command('config').description('Validate, show and change the speculation configuration');

  withOutput(
    config
      .command('validate')
      .description('Check a TOML configuration file against the schema (ranges, types, presets); exit 0 when valid')
      .requiredOption('-c, --config <file>', 'configuration file, e.g. config/speculation-prod.toml')
      .option('--strict', 'also reject unknown keys and inconsistent feature-flag combinations')
      .option('--no-env', 'ignore AGENC_SPECULATION_* environment overrides'),
  ).action((opts: OutputOptions & { config: string; strict?: boolean; env: boolean }) => {
    let raw: Record<string, unknown>;
    try {
      raw = readTomlFile(opts.config);
    } catch (err) {
      if (err instanceof TomlSyntaxError) {
        emit(
          opts,
          { valid: false, file: opts.config, error: err.message, line: err.line, column: err.column },
          () => `✗ ${err.message}\nConfiguration invalid.`,
        );
        process.exitCode = EXIT.negative;
        return;
      }
      throw new CliError((err as Error).message, EXIT.usage);
    }
    const env = opts.env ? applyEnvOverrides(raw) : { raw, problems: [], applied: [] };
    const report = validationReport(env.raw, Boolean(opts.strict), env.problems);
    emit(
      opts,
      {
        valid: report.valid,
        file: opts.config,
        strict: Boolean(opts.strict),
        env_overrides: env.applied,
        checks: report.checks,
        config: report.config,
      },
      () => {
        const lines = report.checks.map((c) => (c.ok ? `✓ ${c.check}` : `✗ ${c.check}: ${c.problem}`));
        if (env.applied.length) lines.unshift(`(environment overrides applied: ${env.applied.join(', ')})`);
        const failed = report.checks.filter((c) => !c.ok).length;
        lines.push(report.valid ? 'Configuration valid!' : `Configuration invalid: ${failed} check(s) failed.`);
        return lines.join('\n');
      },
    );
    if (!report.valid) process.exitCode = EXIT.negative;
  });

  withOutput(
    config.command('show').description('Show the live configuration held by the speculation-control workflow'),
  ).action(async (opts: OutputOptions) => {
    const status = await controlStatus(await clientFactory());
    emit(opts, { config: status.config, config_version: status.config_version, updated_at: status.updated_at }, () =>
      [`version ${status.config_version}, updated ${status.updated_at}`, JSON.stringify(status.config, null, 2)].join(
        '\n',
      ),
    );
  });

  withOutput(
    config
      .command('set')
      .description(
        'Change live configuration keys, e.g. `agenc config set speculation.enabled=true speculation.features.rollout_percentage=5`',
      )
      .argument(
        '<assignments...>',
        'KEY=VALUE pairs with dotted keys; values are JSON (true, 5, "balanced") or bare words',
      ),
  ).action(async (assignments: string[], opts: OutputOptions) => {
    // No prototype: a key such as `__proto__` is a key like any other (refused as unknown), not the object's prototype.
    const changes: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const a of assignments) {
      const i = a.indexOf('=');
      if (i <= 0) throw new CliError(`"${a}" is not KEY=VALUE (example: speculation.enabled=true)`);
      const text = a.slice(i + 1);
      let value: unknown = text;
      try {
        value = JSON.parse(text);
      } catch {
        // a bare word such as balanced
      }
      changes[a.slice(0, i)] = value;
    }
    // Unknown keys need no running system to be named; values are checked by the control workflow's
    // validator, against the live configuration they are merged into.
    const merged = applyDottedChanges({}, changes);
    if (!merged.ok)
      throw new CliError(`configuration rejected: ${merged.problems.map(formatProblem).join('; ')}`, EXIT.usage);
    // The admin API answers a value the control workflow's validator refuses with 400 and its message (exit 2).
    const { body } = await adminRequest<ReturnType<typeof statusBody>>(
      adminFactory(),
      'POST',
      '/admin/config',
      changes,
    );
    const status = body.speculation;
    emit(
      opts,
      {
        changed: changes,
        enabled: status.enabled,
        rollout_percentage: status.rollout_percentage,
        config_version: status.config_version,
      },
      () =>
        `configuration version ${status.config_version}: ${Object.entries(changes)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(', ')}`,
    );
  });
}
