/**
 * Poseidon over the BN254 scalar field, computed in TypeScript so that commitments can be made
 * without running a circuit and without an extra npm package (circomlibjs is not installed).
 *
 * This is a line-by-line port of circomlib 2.0.5 `PoseidonEx(nInputs, 1)` with `initialState = 0`
 * (circuits/poseidon.circom, the "optimized" form with the C, S, M, P constants). The constants are
 * read from the very file the circuit includes (node_modules/circomlib/circuits/poseidon_constants.circom),
 * so the circuit and this code cannot drift apart. test/proof checks the result against the circuit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIELD_MODULUS } from './field-modulus';

const N_ROUNDS_F = 8;
const N_ROUNDS_P = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68];

interface PoseidonConstants {
  C: bigint[];
  S: bigint[];
  M: bigint[][];
  P: bigint[][];
}

const constantsByWidth = new Map<number, PoseidonConstants>();
let constantsSource: string | undefined;

/** Path of circomlib's Poseidon constants (the file the circuit includes). */
export function poseidonConstantsPath(): string {
  return path.join(path.dirname(require.resolve('circomlib/package.json')), 'circuits', 'poseidon_constants.circom');
}

/** Numbers of the `if (t==<t>)` branch of `function <name>(t)` in poseidon_constants.circom, in source order. */
function extractNumbers(source: string, name: string, t: number): bigint[] {
  const fnStart = source.indexOf(`function ${name}(t)`);
  if (fnStart < 0) throw new Error(`poseidon constants: function ${name} not found in ${poseidonConstantsPath()}`);
  const fnEnd = source.indexOf('function ', fnStart + 10);
  const fn = source.slice(fnStart, fnEnd < 0 ? undefined : fnEnd);
  const branch = new RegExp(`t\\s*==\\s*${t}\\s*\\)`).exec(fn);
  if (!branch) throw new Error(`poseidon constants: ${name} has no branch for t=${t}`);
  const rest = fn.slice(branch.index + branch[0].length);
  const next = /t\s*==\s*\d+\s*\)/.exec(rest);
  const body = next ? rest.slice(0, next.index) : rest;
  return (body.match(/0x[0-9a-fA-F]+|\b\d+\b/g) ?? []).map((s) => BigInt(s));
}

function constantsFor(t: number): PoseidonConstants {
  const cached = constantsByWidth.get(t);
  if (cached) return cached;
  if (t < 2 || t > 17) throw new RangeError(`Poseidon supports 1..16 inputs, got ${t - 1}`);
  constantsSource ??= fs.readFileSync(poseidonConstantsPath(), 'utf8');
  const nRoundsP = N_ROUNDS_P[t - 2] as number;
  const C = extractNumbers(constantsSource, 'POSEIDON_C', t);
  const S = extractNumbers(constantsSource, 'POSEIDON_S', t);
  const mFlat = extractNumbers(constantsSource, 'POSEIDON_M', t);
  const pFlat = extractNumbers(constantsSource, 'POSEIDON_P', t);
  if (
    C.length !== t * N_ROUNDS_F + nRoundsP ||
    S.length !== nRoundsP * (2 * t - 1) ||
    mFlat.length !== t * t ||
    pFlat.length !== t * t
  ) {
    throw new Error(
      `poseidon constants for t=${t} have an unexpected shape (C ${C.length}, S ${S.length}, M ${mFlat.length}, P ${pFlat.length})`,
    );
  }
  const square = (flat: bigint[]): bigint[][] => Array.from({ length: t }, (_, r) => flat.slice(r * t, r * t + t));
  const result = { C, S, M: square(mFlat), P: square(pFlat) };
  constantsByWidth.set(t, result);
  return result;
}

const mod = (x: bigint): bigint => {
  const r = x % FIELD_MODULUS;
  return r < 0n ? r + FIELD_MODULUS : r;
};
const pow5 = (x: bigint): bigint => {
  const x2 = (x * x) % FIELD_MODULUS;
  const x4 = (x2 * x2) % FIELD_MODULUS;
  return (x4 * x) % FIELD_MODULUS;
};
/** out[i] = sum_j M[j][i] * in[j]  (circomlib's Mix) */
const mix = (state: bigint[], m: bigint[][]): bigint[] =>
  state.map((_, i) => mod(state.reduce((acc, v, j) => acc + (m[j] as bigint[])[i]! * v, 0n)));

/** Poseidon(inputs) exactly as circomlib's `Poseidon(n)` template computes it. Inputs are reduced mod p. */
export function poseidonHash(inputs: readonly bigint[]): bigint {
  const t = inputs.length + 1;
  const { C, S, M, P } = constantsFor(t);
  const nRoundsP = N_ROUNDS_P[t - 2] as number;
  const half = N_ROUNDS_F / 2;
  let state = [0n, ...inputs.map(mod)].map((v, i) => mod(v + C[i]!));

  for (let r = 0; r < half - 1; r++) {
    state = state.map(pow5).map((v, i) => mod(v + C[(r + 1) * t + i]!));
    state = mix(state, M);
  }
  state = state.map(pow5).map((v, i) => mod(v + C[half * t + i]!));
  state = mix(state, P);

  for (let r = 0; r < nRoundsP; r++) {
    const s0 = mod(pow5(state[0]!) + C[(half + 1) * t + r]!);
    const base = (2 * t - 1) * r;
    const inp = [s0, ...state.slice(1)];
    const next = new Array<bigint>(t);
    next[0] = mod(inp.reduce((acc, v, i) => acc + S[base + i]! * v, 0n));
    for (let i = 1; i < t; i++) next[i] = mod(inp[i]! + s0 * S[base + t + i - 1]!);
    state = next;
  }

  for (let r = 0; r < half - 1; r++) {
    state = state.map(pow5).map((v, i) => mod(v + C[(half + 1) * t + nRoundsP + r * t + i]!));
    state = mix(state, M);
  }
  state = state.map(pow5);
  return mod(state.reduce((acc, v, j) => acc + (M[j] as bigint[])[0]! * v, 0n));
}
