/**
 * How every `agenc` command answers: `--output text` (default) for people, `--output json` for
 * scripts. Errors go to stderr as a sentence (and, in JSON mode, to stdout as `{"error": …}`) with a
 * non-zero exit code; progress on long waits goes to stderr, never into JSON output.
 */
import { Command, Option } from 'commander';

export type OutputFormat = 'text' | 'json';

export interface OutputOptions {
  output: OutputFormat;
}

/** Exit codes: 0 success, 1 the answer is "no" (invalid config, task not confirmed, proof invalid), 2 usage or input error, 3 system unreachable or failed. */
export const EXIT = { ok: 0, negative: 1, usage: 2, system: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    public readonly exitCode: number = EXIT.usage,
    public readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

/** Adds `--output` to a command; every command has it. */
export function withOutput(cmd: Command): Command {
  return cmd.addOption(outputOption());
}

export function emit(opts: OutputOptions, value: unknown, text: () => string): void {
  if (opts.output === 'json') process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else process.stdout.write(`${text()}\n`);
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (!rows.length) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join(
    '\n',
  );
}

export function parseJsonArg(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(
      `${flag} is not valid JSON: ${(err as Error).message} (got ${JSON.stringify(text)}; example: '{"value": 42}')`,
    );
  }
}

export function parsePositiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new CliError(`${flag} must be a positive number, got ${JSON.stringify(text)}`);
  return n;
}

export function parseLamports(flag: string, text: string): number {
  const cleaned = text.replace(/_/g, '');
  if (!/^\d+$/.test(cleaned) || !Number.isSafeInteger(Number(cleaned)) || Number(cleaned) <= 0) {
    throw new CliError(
      `${flag} must be a whole number of lamports > 0, got ${JSON.stringify(text)} (1 SOL = 1000000000 lamports)`,
    );
  }
  return Number(cleaned);
}
