/**
 * Typed proof errors. Each class has a distinct `name` (also its Temporal ApplicationFailure type in
 * activities.ts) and a message that says what was wrong and what to do about it.
 */

export type ProofErrorType =
  | 'ProofWitnessInvalid'
  | 'ProofInputInvalid'
  | 'ProofCorrupted'
  | 'ProofKeyMismatch'
  | 'ProofPublicSignalsMismatch'
  | 'ProofInvalid'
  | 'ProofArtifactMissing'
  | 'ProofTimeout'
  | 'ProofQueueFull'
  | 'ProofCancelled';

export abstract class ProofError extends Error {
  abstract readonly type: ProofErrorType;
  /** Whether retrying the same call can succeed. */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The inputs do not satisfy the circuit (e.g. output != value^2 + parentOutput, wrong parent opening). */
export class ProofWitnessInvalidError extends ProofError {
  override readonly name = 'ProofWitnessInvalidError';
  readonly type = 'ProofWitnessInvalid' as const;
  readonly retryable = false;
}

/** An input is not a canonical decimal field element. */
export class ProofInputInvalidError extends ProofError {
  override readonly name = 'ProofInputInvalidError';
  readonly type = 'ProofInputInvalid' as const;
  readonly retryable = false;
}

/** The proof bytes are malformed (not points on the curve, wrong shape, not JSON numbers). */
export class ProofCorruptedError extends ProofError {
  override readonly name = 'ProofCorruptedError';
  readonly type = 'ProofCorrupted' as const;
  readonly retryable = false;
}

/** The proof record names a verification key other than the one we verify with. */
export class ProofKeyMismatchError extends ProofError {
  override readonly name = 'ProofKeyMismatchError';
  readonly type = 'ProofKeyMismatch' as const;
  readonly retryable = false;
}

/** The proof's public signals are not the expected task id / agent / commitments. */
export class ProofPublicSignalsMismatchError extends ProofError {
  override readonly name = 'ProofPublicSignalsMismatchError';
  readonly type = 'ProofPublicSignalsMismatch' as const;
  readonly retryable = false;
}

/** Well-formed proof for the right key and signals, but the pairing check fails. */
export class ProofInvalidError extends ProofError {
  override readonly name = 'ProofInvalidError';
  readonly type = 'ProofInvalid' as const;
  readonly retryable = false;
}

/** A circuit artifact (wasm, zkey, verification key) is not where it should be. */
export class ProofArtifactMissingError extends ProofError {
  override readonly name = 'ProofArtifactMissingError';
  readonly type = 'ProofArtifactMissing' as const;
  readonly retryable = false;
  constructor(
    message: string,
    readonly missingPath?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ProofTimeoutError extends ProofError {
  override readonly name = 'ProofTimeoutError';
  readonly type = 'ProofTimeout' as const;
  readonly retryable = false;
}

export class ProofQueueFullError extends ProofError {
  override readonly name = 'ProofQueueFullError';
  readonly type = 'ProofQueueFull' as const;
  readonly retryable = false;
}

export class ProofCancelledError extends ProofError {
  override readonly name = 'ProofCancelledError';
  readonly type = 'ProofCancelled' as const;
  readonly retryable = false;
}

export function isProofError(e: unknown): e is ProofError {
  return e instanceof ProofError;
}
