/**
 * The proof service without Temporal: bounded concurrency, a bounded wait queue, a proving timeout,
 * cancellation by AbortSignal, lazy artifacts of every task circuit (a proof is made with the circuit its
 * parents call for and verified with the key its record names). activities.ts wraps it for the
 * `agenc-proofs` queue.
 */
import { ensureTaskCircuits, type CircuitArtifacts } from './artifacts';
import { ProofArtifactMissingError, ProofCancelledError, ProofTimeoutError } from './errors';
import { proveTask, provingCircuitFor, readProvingKey, verifyTaskProof } from './prover';
import { BoundedSemaphore, type SemaphoreStats } from './semaphore';
import type { GenerateProofInput, ProofRecord, VerifyProofInput, VerifyResult } from '../../shared/proof-records';

export interface ProofServiceOptions {
  /** Artifacts cache root (see ensureArtifacts). */
  artifactsDir?: string;
  /** Ceremony .ptau for production; without it a development one is generated on first build. */
  ptauPath?: string;
  /** Build the artifacts if the cache is empty (default true). Production workers: false (fail with ProofArtifactMissing). */
  buildArtifacts?: boolean;
  /**
   * Use these circuits' artifacts instead of resolving every task circuit's from artifactsDir/ptauPath
   * (tests). A proof that calls for a circuit not among them is a ProofArtifactMissingError.
   */
  artifacts?: CircuitArtifacts | readonly CircuitArtifacts[];
  /** Limit for one proof, from the moment it gets a proving slot (queue wait is not counted). */
  timeoutMs: number;
  /** Proofs computed at once in this process. */
  maxConcurrent: number;
  /** Calls allowed to wait for a slot; one more is refused with ProofQueueFull. */
  queueSize: number;
  /** Called with the proving time (seconds) of every successful proof, e.g. proofDurationObserver(histogram). */
  onProofDuration?: (seconds: number) => void;
  /** Progress lines if the artifacts have to be built. */
  onProgress?: (line: string) => void;
}

export interface ProofService {
  /** Throws ProofError subclasses (ProofWitnessInvalidError, ProofTimeoutError, ProofQueueFullError, ...). */
  generateProof(input: GenerateProofInput, signal?: AbortSignal): Promise<ProofRecord>;
  verifyProof(input: VerifyProofInput): Promise<VerifyResult>;
  /** The artifacts of every circuit this service proves and verifies with, built or loaded. */
  circuits(): Promise<readonly CircuitArtifacts[]>;
  stats(): SemaphoreStats;
}

export function createProofService(opts: ProofServiceOptions): ProofService {
  if (!(opts.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${opts.timeoutMs}`);
  const semaphore = new BoundedSemaphore(opts.maxConcurrent, opts.queueSize);
  const given = opts.artifacts;
  let circuitsPromise: Promise<readonly CircuitArtifacts[]> | undefined =
    given === undefined ? undefined : Promise.resolve('circuit' in given ? [given] : given);

  const circuits = (): Promise<readonly CircuitArtifacts[]> => {
    circuitsPromise ??= ensureTaskCircuits({
      artifactsDir: opts.artifactsDir,
      ptauPath: opts.ptauPath,
      build: opts.buildArtifacts ?? true,
      onProgress: opts.onProgress,
    })
      .then((byName) => Object.values(byName))
      .catch((e: unknown) => {
        circuitsPromise = undefined; // let the next call try again
        throw e;
      });
    return circuitsPromise;
  };

  /** The artifacts of the circuit this input's proof is made with. */
  async function provingArtifacts(input: GenerateProofInput): Promise<CircuitArtifacts> {
    const circuit = provingCircuitFor(input);
    const all = await circuits();
    const found = all.find((a) => a.circuit === circuit);
    if (!found) {
      throw new ProofArtifactMissingError(
        `task ${input.taskId} is proven with circuits/${circuit}.circom, but this proof service has artifacts of ${all.map((a) => `circuits/${a.circuit}.circom`).join(', ') || 'no circuit'}; ` +
          'give it every task circuit (ensureTaskCircuits, or no `artifacts` option)',
      );
    }
    return found;
  }

  async function generateProof(input: GenerateProofInput, signal?: AbortSignal): Promise<ProofRecord> {
    const release = await semaphore.acquire(signal);
    let work: Promise<ProofRecord> | undefined;
    try {
      const a = await provingArtifacts(input);
      // The proving key's check against the verification key (once per process, about a second cold:
      // the curve is built then) is the worker's own start-up cost: done before the proof's time starts.
      await readProvingKey(a);
      if (signal?.aborted) throw new ProofCancelledError(`proof of task ${input.taskId} cancelled`);
      work = proveTask(input, a);
      // proving is CPU work in this process and cannot be pre-empted: on timeout or cancellation the
      // caller gets its answer at once, the slot is freed only when the computation really ends.
      // The live configuration's timeout, as the workflow scheduled the proof under it (older runs: this worker's).
      const timeoutMs = input.timeoutMs && input.timeoutMs > 0 ? input.timeoutMs : opts.timeoutMs;
      const outcome = await raceWith(work, timeoutMs, signal);
      if (outcome === 'timeout') {
        throw new ProofTimeoutError(
          `proof of task ${input.taskId} did not finish within ${timeoutMs} ms (proof timeout); the machine is overloaded or the timeout is too short for this circuit`,
        );
      }
      if (outcome === 'cancelled') throw new ProofCancelledError(`proof of task ${input.taskId} cancelled`);
      opts.onProofDuration?.(outcome.timing.duration_ms / 1000);
      return outcome;
    } finally {
      if (work) work.then(release, release);
      else release();
    }
  }

  async function verifyProof(input: VerifyProofInput): Promise<VerifyResult> {
    return verifyTaskProof(input.record, await circuits(), input.expected);
  }

  return { generateProof, verifyProof, circuits, stats: () => semaphore.stats() };
}

function raceWith<T>(work: Promise<T>, timeoutMs: number, signal?: AbortSignal): Promise<T | 'timeout' | 'cancelled'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(() => resolve('timeout')), timeoutMs);
    const onAbort = (): void => done(() => resolve('cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    function done(f: () => void): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      f();
    }
    if (signal?.aborted) onAbort();
    work.then(
      (v) => done(() => resolve(v)),
      (e: unknown) => done(() => reject(e)),
    );
  });
}
