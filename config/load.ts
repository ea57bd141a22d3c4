/**
 * Reads the speculation configuration from a TOML file and `AGENC_SPECULATION_*` environment
 * variables, through the one schema in ./schema.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { CONFIG_KEYS, ConfigError, type ConfigProblem, parseConfig, setAtPath, type SpeculationConfig } from './schema';

export const PROJECT_ROOT = path.resolve(__dirname, '..');
export const TEMPLATE_PATH = path.join(PROJECT_ROOT, 'config', 'speculation-template.toml');
/** The file the system runs with when none is named: `AGENC_CONFIG`, else the runbook's template. */
export function defaultConfigPath(): string {
  return process.env.AGENC_CONFIG ?? TEMPLATE_PATH;
}

/** `speculation.stake.min_stake` → `AGENC_SPECULATION_STAKE_MIN_STAKE`. */
export function envNameFor(key: string): string {
  return `AGENC_${key.toUpperCase().replace(/\./g, '_')}`;
}

export class TomlSyntaxError extends Error {
  constructor(
    public readonly file: string,
    public readonly line: number,
    public readonly column: number,
    detail: string,
  ) {
    super(`${file}:${line}:${column}: TOML syntax error: ${detail}`);
    this.name = 'TomlSyntaxError';
  }
}

/** Parses TOML text; a syntax error names file, line and column. */
export function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const firstLine = err.message.split('\n')[0] ?? err.message;
      throw new TomlSyntaxError(file, err.line, err.column, firstLine.replace(/^Invalid TOML document: /, ''));
    }
    throw err;
  }
}

export function readTomlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read configuration file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseTomlText(text, file);
}

/** Lays `AGENC_SPECULATION_*` variables over a raw configuration; a malformed value is a problem, not a default. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): { raw: Record<string, unknown>; problems: ConfigProblem[]; applied: string[] } {
  const out = JSON.parse(JSON.stringify(raw)) as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  const applied: string[] = [];
  const known = new Map([...CONFIG_KEYS].map(([key, kind]) => [envNameFor(key), { key, kind }]));
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('AGENC_SPECULATION_') || text === undefined) continue;
    const entry = known.get(name);
    if (!entry) {
      problems.push({
        path: name,
        value: text,
        message: 'is not a known configuration variable (names are AGENC_ + the dotted key in upper case with _ for .)',
        kind: 'unknown_key',
      });
      continue;
    }
    let value: unknown = text;
    if (entry.kind === 'number') {
      value = Number(text.replace(/_/g, ''));
      if (text.trim() === '' || Number.isNaN(value)) {
        problems.push({ path: `${entry.key} (from ${name})`, value: text, message: 'must be a number', kind: 'value' });
        continue;
      }
    } else if (entry.kind === 'boolean') {
      if (text !== 'true' && text !== 'false') {
        problems.push({
          path: `${entry.key} (from ${name})`,
          value: text,
          message: 'must be true or false',
          kind: 'value',
        });
        continue;
      }
      value = text === 'true';
    } else if (entry.kind === 'list') {
      // Comma-separated, as a shell sets it: AGENC_SPECULATION_FEATURES_ROLLOUT_TARGET_AGENTS=smoke,canary
      value = text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    }
    setAtPath(out, entry.key, value);
    applied.push(name);
  }
  return { raw: out, problems, applied };
}

export interface LoadedConfig {
  file: string;
  /** The file's values with environment overrides applied, before presets: what the control workflow keeps. */
  raw: Record<string, unknown>;
  config: SpeculationConfig;
  envApplied: string[];
}

/** Loads, overrides and validates; throws TomlSyntaxError or ConfigError with every problem found. */
export function loadConfig(opts: { file?: string; strict?: boolean; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const file = opts.file ?? defaultConfigPath();
  const fromFile = readTomlFile(file);
  const { raw, problems, applied } = applyEnvOverrides(fromFile, opts.env ?? process.env);
  const result = parseConfig(raw, { strict: opts.strict });
  const all = [...problems, ...(result.ok ? [] : result.problems)];
  if (all.length || !result.ok) throw new ConfigError(all, file);
  return { file, raw, config: result.config, envApplied: applied };
}
