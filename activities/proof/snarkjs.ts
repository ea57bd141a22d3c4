/**
 * Typed access to the parts of snarkjs 0.7.6 (CommonJS build) this module uses. snarkjs ships no
 * type declarations, so the surface is described here instead of with a global `declare module`.
 */

import type { Groth16Proof } from '../../shared/proof-records';

export type { Groth16Proof };

/** A file name or an in-memory file, as snarkjs' fastfile accepts. */
export type SnarkFile = string | { type: 'mem'; data: Uint8Array };

export type VerificationKey = Record<string, unknown> & { protocol: string; curve: string; nPublic: number };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface R1csInfo {
  nConstraints: number;
  nPubInputs: number;
  nPrvInputs: number;
  nOutputs: number;
  nVars: number;
}

export interface Snarkjs {
  groth16: {
    fullProve(
      input: Record<string, unknown>,
      wasm: SnarkFile,
      zkey: SnarkFile,
      logger?: Logger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    prove(
      zkey: SnarkFile,
      witness: SnarkFile,
      logger?: Logger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(vk: VerificationKey, publicSignals: string[], proof: Groth16Proof, logger?: Logger): Promise<boolean>;
  };
  wtns: {
    calculate(input: Record<string, unknown>, wasm: SnarkFile, wtns: SnarkFile): Promise<void>;
  };
  powersOfTau: {
    newAccumulator(curve: unknown, power: number, fileName: string, logger?: Logger): Promise<unknown>;
    contribute(oldPtau: string, newPtau: string, name: string, entropy: string, logger?: Logger): Promise<unknown>;
    preparePhase2(oldPtau: string, newPtau: string, logger?: Logger): Promise<unknown>;
  };
  zKey: {
    newZKey(r1cs: string, ptau: string, zkey: string, logger?: Logger): Promise<unknown>;
    contribute(oldZkey: string, newZkey: string, name: string, entropy: string, logger?: Logger): Promise<unknown>;
    exportVerificationKey(zkey: SnarkFile, logger?: Logger): Promise<VerificationKey>;
  };
  r1cs: {
    info(r1cs: string, logger?: Logger): Promise<R1csInfo>;
  };
}

interface FfjavascriptCurve {
  terminate(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const snarkjs = require('snarkjs') as Snarkjs;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ffjavascript = require('ffjavascript') as { buildBn128(singleThread?: boolean): Promise<FfjavascriptCurve> };

/** The BN254 curve (ffjavascript caches one per process, with its worker threads). */
export function buildBn128(): Promise<FfjavascriptCurve> {
  return ffjavascript.buildBn128();
}

/**
 * Stops ffjavascript's worker threads so a script or test process can exit. snarkjs re-creates
 * them on the next proof, so calling this early only costs a cold start.
 */
export async function releaseProverResources(): Promise<void> {
  const g = globalThis as { curve_bn128?: FfjavascriptCurve | null };
  const curve = g.curve_bn128;
  if (curve) {
    g.curve_bn128 = null;
    await curve.terminate();
  }
}
