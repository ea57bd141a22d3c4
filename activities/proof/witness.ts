/**
 * Witness generation with one circom WitnessCalculator per circuit wasm, kept warm across proofs
 * (building it compiles the wasm: ~40 ms of the ~45 ms a cold witness costs; a warm one takes ~5 ms).
 * circom_runtime is snarkjs' own witness runtime, resolved through snarkjs so the versions match.
 */
import * as path from 'node:path';

interface WitnessCalculator {
  calculateWTNSBin(input: Record<string, unknown>, sanityCheck?: number | boolean): Promise<Uint8Array>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const circomRuntime = require(
  require.resolve('circom_runtime', { paths: [path.dirname(require.resolve('snarkjs'))] }),
) as {
  WitnessCalculatorBuilder(wasm: Uint8Array, options?: Record<string, unknown>): Promise<WitnessCalculator>;
};

interface Entry {
  wasm: Uint8Array;
  calculator: Promise<WitnessCalculator>;
  /** The calculator's wasm instance is shared state: calculations on it run one at a time. */
  tail: Promise<unknown>;
}
const calculators = new Map<string, Entry>();

/** Calculates the binary witness (.wtns bytes) of `input` for the circuit compiled to `wasm`. */
export function calculateWitness(
  wasmKey: string,
  wasm: Uint8Array,
  input: Record<string, unknown>,
): Promise<Uint8Array> {
  let entry = calculators.get(wasmKey);
  if (!entry || entry.wasm !== wasm) {
    const calculator = circomRuntime.WitnessCalculatorBuilder(wasm);
    calculator.catch(() => calculators.delete(wasmKey));
    entry = { wasm, calculator, tail: Promise.resolve() };
    calculators.set(wasmKey, entry);
  }
  const e = entry;
  const run = e.tail.then(async () => (await e.calculator).calculateWTNSBin(input, 0));
  e.tail = run.catch(() => {
    // A failed calculation leaves the instance mid-run and circom_runtime keeps appending to its
    // error text across calls: drop this calculator, the next call builds a fresh one.
    if (calculators.get(wasmKey) === e) calculators.delete(wasmKey);
  });
  return run;
}

export function clearWitnessCalculators(): void {
  calculators.clear();
}
