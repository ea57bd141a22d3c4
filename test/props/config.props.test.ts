/**
 * Bad configuration input, property-based: every key with values of the wrong type, out of its range,
 * unknown keys anywhere, broken TOML text and malformed `AGENC_SPECULATION_*` variables. Whatever the
 * input, the answer is a list of problems each naming its key (and the value, and what is allowed) or
 * a TomlSyntaxError naming file, line and column; never another exception, never a silently used value.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { applyEnvOverrides, envNameFor, loadConfig, parseTomlText, TomlSyntaxError } from '../../config/load';
import {
  applyDottedChanges,
  CONFIG_KEYS,
  ConfigError,
  type ConfigProblem,
  formatProblem,
  NUMERIC_RULES,
  parseConfig,
  setAtPath,
  BOND_ACCOUNT_RENT_MINIMUM,
} from '../../config/schema';
import { RUNBOOK_TOML, runbookRaw } from '../config/runbook';

const RUNS = { numRuns: 200 };
const KEYS = [...CONFIG_KEYS.keys()];
const ruleOf = (key: string) => NUMERIC_RULES.find((r) => r.path === key);

/** A raw configuration: the runbook's template with one dotted key set to `value`. */
function templateWith(key: string, value: unknown): Record<string, unknown> {
  const raw = runbookRaw();
  setAtPath(raw, key, value);
  return raw;
}

function problemsOf(raw: unknown, strict = false): ConfigProblem[] {
  const result = parseConfig(raw, { strict });
  return result.ok ? [] : result.problems;
}

/** Any JSON-ish value, including the shapes TOML can produce (dates, arrays, tables). */
const anyValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.date({ noInvalidDate: true }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);

function wrongTypeFor(key: string) {
  const kind = CONFIG_KEYS.get(key);
  const isList = (v: unknown) => Array.isArray(v) && v.every((item) => typeof item === 'string');
  return anyValue.filter((v) =>
    kind === 'number'
      ? typeof v !== 'number'
      : kind === 'boolean'
        ? typeof v !== 'boolean'
        : kind === 'list'
          ? !isList(v)
          : typeof v !== 'string',
  );
}

describe('every key, a value of the wrong type', () => {
  test.each(KEYS)('%s: refused, the problem names the key and the value', (key) => {
    fc.assert(
      fc.property(wrongTypeFor(key), (value) => {
        const problems = problemsOf(templateWith(key, value));
        const mine = problems.filter((p) => p.path === key);
        expect(mine).toHaveLength(1);
        expect(mine[0]!.value).toEqual(value);
        expect(formatProblem(mine[0]!)).toMatch(new RegExp(`^${key.replace(/\./g, '\\.')} = .+ (must|is)`, 's'));
      }),
      { numRuns: 30 },
    );
  });
});

describe('every numeric key, a value outside its range or not whole', () => {
  const numericKeys = KEYS.filter((k) => CONFIG_KEYS.get(k) === 'number');

  test('every numeric key has a rule', () => {
    expect(numericKeys.filter((k) => !ruleOf(k))).toEqual([]);
  });

  test.each(numericKeys)('%s', (key) => {
    const rule = ruleOf(key)!;
    const outside = fc.oneof(
      // fast-check counts -0 as below 0; for the schema (and for JSON) it is 0, inside the range.
      ...(rule.min !== undefined
        ? [fc.double({ max: rule.min, maxExcluded: true, noNaN: true }).filter((v) => v < rule.min!)]
        : []),
      ...(rule.max !== undefined
        ? [fc.double({ min: rule.max, minExcluded: true, noNaN: true }).filter((v) => v > rule.max!)]
        : []),
      ...(rule.integer
        ? [fc.double({ min: rule.min ?? -1e9, max: rule.max ?? 1e9, noNaN: true }).filter((v) => !Number.isInteger(v))]
        : []),
    );
    fc.assert(
      fc.property(outside, (value) => {
        const mine = problemsOf(templateWith(key, value)).filter((p) => p.path === key);
        // A value both fractional and out of range breaks two rules: both are reported.
        expect(mine.length).toBeGreaterThanOrEqual(1);
        for (const p of mine) {
          expect(p.value).toBe(value);
          expect(p.message).toMatch(/allowed|whole number/);
          expect(p.message).toContain(rule.integer ? 'an integer' : 'a number');
        }
      }),
      { numRuns: 40 },
    );
  });

  test.each(numericKeys)('%s: every value inside the range is taken as given', (key) => {
    const rule = ruleOf(key)!;
    const min = rule.min ?? -1e9;
    const max = rule.max ?? Math.max(min + 1e9, 1e9);
    const inside = rule.integer
      ? fc.integer({ min: Math.ceil(min), max: Math.min(max, Number.MAX_SAFE_INTEGER) })
      : fc.double({ min, max, noNaN: true });
    fc.assert(
      fc.property(inside, (value) => {
        // Rules between keys may refuse an otherwise good value: the other bound is set to match.
        const raw = templateWith(key, value);
        if (key === 'speculation.stake.min_stake')
          setAtPath(raw, 'speculation.stake.max_stake', Number.MAX_SAFE_INTEGER);
        if (key === 'speculation.stake.max_stake')
          setAtPath(raw, 'speculation.stake.min_stake', BOND_ACCOUNT_RENT_MINIMUM);
        // Likewise adaptive speculation's rollback rates (low <= high).
        if (key === 'speculation.adaptive.rollback_rate_low')
          setAtPath(raw, 'speculation.adaptive.rollback_rate_high', 1);
        if (key === 'speculation.adaptive.rollback_rate_high')
          setAtPath(raw, 'speculation.adaptive.rollback_rate_low', 0);
        const result = parseConfig(raw);
        if (!result.ok) throw new Error(result.problems.map(formatProblem).join('; '));
        const got = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], result.config);
        expect(got).toBe(value);
      }),
      { numRuns: 30 },
    );
  });
});

describe('unknown keys', () => {
  const sections = [
    '',
    'speculation',
    'speculation.stake',
    'speculation.proof',
    'speculation.limits',
    'speculation.features',
  ];
  const unknownKey = fc
    .tuple(fc.constantFrom(...sections), fc.stringMatching(/^[a-z_][a-z0-9_]{0,15}$/))
    .map(([section, name]) => (section ? `${section}.${name}` : name))
    .filter((key) => !CONFIG_KEYS.has(key) && !sections.includes(key));

  test('--strict names each unknown key; without it they are ignored and the rest is unchanged', () => {
    fc.assert(
      fc.property(fc.uniqueArray(unknownKey, { minLength: 1, maxLength: 4 }), anyValue, (keys, value) => {
        const raw = runbookRaw();
        // A key whose prefix is another unknown key of the same run would replace a table: keep the first.
        const placed = keys.filter((k) => !keys.some((o) => o !== k && k.startsWith(`${o}.`)));
        for (const key of placed) setAtPath(raw, key, value);
        const strict = problemsOf(raw, true);
        expect(
          strict
            .filter((p) => p.kind === 'unknown_key')
            .map((p) => p.path)
            .sort(),
        ).toEqual([...placed].sort());
        const lenient = parseConfig(raw);
        expect(lenient).toEqual(parseConfig(runbookRaw()));
      }),
      RUNS,
    );
  });

  test('dotted changes (admin API, setConfig) with an unknown key: every unknown key named, nothing applied', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 30 }), anyValue, { minKeys: 1, maxKeys: 4 }),
        (changes) => {
          const unknown = Object.keys(changes).filter((k) => !CONFIG_KEYS.has(k));
          fc.pre(unknown.length > 0);
          const before = runbookRaw();
          const result = applyDottedChanges(before, changes);
          expect(result.ok).toBe(false);
          if (result.ok) return;
          expect(result.problems.map((p) => p.path).sort()).toEqual(unknown.sort());
          expect(before).toEqual(runbookRaw());
        },
      ),
      RUNS,
    );
  });
});

describe('whole documents of any shape', () => {
  test('parseConfig never throws; a refusal always names at least one key', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4 }), fc.boolean(), (raw, strict) => {
        const result = parseConfig({ speculation: raw }, { strict });
        if (!result.ok) {
          expect(result.problems.length).toBeGreaterThan(0);
          for (const p of result.problems) expect(p.path).toMatch(/^speculation/);
        }
      }),
      RUNS,
    );
  });
});

describe('a table given as something else', () => {
  test('the document or any section as a scalar, array or null: refused, naming it and saying a table is expected', () => {
    const notTable = fc.oneof(
      fc.constant(null),
      fc.string({ maxLength: 10 }),
      fc.double(),
      fc.boolean(),
      fc.array(fc.integer(), { maxLength: 3 }),
    );
    const where = fc.constantFrom(
      '',
      'speculation',
      'speculation.stake',
      'speculation.proof',
      'speculation.limits',
      'speculation.features',
    );
    fc.assert(
      fc.property(where, notTable, (section, value) => {
        const raw = section ? templateWith(section, value) : value;
        const problems = problemsOf(raw);
        expect(problems).toEqual([
          expect.objectContaining({
            path: section || 'configuration',
            value,
            message: expect.stringMatching(/^must be a table \(/),
          }),
        ]);
      }),
      RUNS,
    );
  });
});

describe('broken TOML', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'agenc-props-toml-'));
  });

  /** The template with a random edit: a span deleted, or random text inserted at a random place. */
  const mutated = fc.oneof(
    fc
      .tuple(fc.nat(RUNBOOK_TOML.length), fc.integer({ min: 1, max: 20 }))
      .map(([at, n]) => RUNBOOK_TOML.slice(0, at) + RUNBOOK_TOML.slice(at + n)),
    fc
      .tuple(
        fc.nat(RUNBOOK_TOML.length),
        fc.string({
          unit: fc.constantFrom(...'[]="\'.#{},\n =0123456789abc_-+:tT'.split('')),
          minLength: 1,
          maxLength: 8,
        }),
      )
      .map(([at, s]) => RUNBOOK_TOML.slice(0, at) + s + RUNBOOK_TOML.slice(at)),
    fc.string({ unit: 'grapheme', maxLength: 200 }),
  );

  test('loading any edit of the template: a configuration, a TomlSyntaxError with line and column, or a ConfigError naming keys', () => {
    const file = path.join(dir, 'speculation.toml');
    const outcomes = { loaded: 0, syntax: 0, invalid: 0 };
    fc.assert(
      fc.property(mutated, (text) => {
        writeFileSync(file, text);
        try {
          loadConfig({ file, env: {} });
          outcomes.loaded += 1;
        } catch (err) {
          if (err instanceof TomlSyntaxError) {
            outcomes.syntax += 1;
            expect(err.message).toMatch(
              new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: TOML syntax error: .+`),
            );
            expect(err.line).toBeGreaterThanOrEqual(1);
            expect(err.column).toBeGreaterThanOrEqual(1);
          } else if (err instanceof ConfigError) {
            outcomes.invalid += 1;
            expect(err.problems.length).toBeGreaterThan(0);
            for (const p of err.problems) expect(p.path).not.toBe('');
          } else {
            throw err;
          }
        }
      }),
      {
        numRuns: 300,
        // One edit of each outcome always runs (a random run may miss the rarest, an invalid value).
        examples: [[RUNBOOK_TOML], [RUNBOOK_TOML.replace('max_depth = 3', 'max_depth = 99')], ['[speculation']],
      },
    );
    // The generator reaches all three outcomes, so the property above checked each of them.
    expect(outcomes.loaded).toBeGreaterThan(0);
    expect(outcomes.syntax).toBeGreaterThan(0);
    expect(outcomes.invalid).toBeGreaterThan(0);
  });

  test('parseTomlText on any text: a table or a TomlSyntaxError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (text) => {
        try {
          expect(typeof parseTomlText(text, 'x.toml')).toBe('object');
        } catch (err) {
          expect(err).toBeInstanceOf(TomlSyntaxError);
        }
      }),
      RUNS,
    );
  });
});

describe('AGENC_SPECULATION_* overrides with any text', () => {
  test('a known variable: applied, or a problem naming the key and the variable; unknown variables named', () => {
    const name = fc.oneof(
      fc.constantFrom(...KEYS.map(envNameFor)),
      fc.stringMatching(/^AGENC_SPECULATION_[A-Z_]{1,20}$/),
    );
    fc.assert(
      fc.property(name, fc.string({ unit: 'grapheme', maxLength: 20 }), (variable, text) => {
        const { problems, applied } = applyEnvOverrides(runbookRaw(), { [variable]: text });
        const key = KEYS.find((k) => envNameFor(k) === variable);
        if (!key) {
          expect(problems).toEqual([expect.objectContaining({ path: variable, kind: 'unknown_key' })]);
          return;
        }
        if (applied.length) {
          expect(problems).toEqual([]);
          return;
        }
        expect(problems).toEqual([expect.objectContaining({ path: `${key} (from ${variable})`, value: text })]);
      }),
      RUNS,
    );
  });
});
