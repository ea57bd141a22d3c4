/**
 * Proof throughput: raw snarkjs.groth16.fullProve against the `generateProof` activity function
 * (called directly; the Temporal queue adds its own latency on top), in the same run and process.
 *
 *   npx tsx bench/proof.ts [--n 20] [--artifacts DIR]
 *
 * Also answers the batch question: proving N witnesses in one call (a proveTask loop: artifacts and
 * witness calculator loaded once) against N separate generateProof calls (which keep the same things
 * warm between calls), and N calls at once with maxConcurrent 2.
 */
import * as fs from 'node:fs';
import { createProofActivities } from '../activities/proof/proof-activities';
import { ensureArtifacts, type CircuitArtifacts } from '../activities/proof/artifacts';
import { commitSync, computeOutput, randomSalt, toField } from '../activities/proof/fields';
import { proveTask } from '../activities/proof/prover';
import { releaseProverResources, snarkjs } from '../activities/proof/snarkjs';
import type { GenerateProofInput } from '../shared/proof-records';

export interface BenchProofsOptions {
  /** Proofs per measurement (default 20). */
  n?: number;
  /** Artifacts cache root (default .data/circuits). */
  artifactsDir?: string;
  /** Print the table (default true when run as a script). */
  print?: boolean;
}

export interface BenchLine {
  label: string;
  proofs: number;
  totalMs: number;
  msPerProof: number;
  proofsPerSecond: number;
}

export interface BenchProofsResult {
  constraints: number;
  verificationKeyHash: string;
  raw: BenchLine;
  /** fullProve with wasm and zkey passed as in-memory files. */
  rawInMemory: BenchLine;
  activity: BenchLine;
  /** activity proofs/s divided by raw proofs/s (> 1: the activity is faster). */
  activityToRawRatio: number;
  batchInOneCall: BenchLine;
  activityParallel2: BenchLine;
  /** batch proofs/s divided by separate-activity-call proofs/s. */
  batchToSeparateRatio: number;
  verifyMs: number;
}

export function witness(i: number): GenerateProofInput {
  const value = BigInt(1000 + i);
  const output = computeOutput(value, 0n);
  return {
    taskId: `bench-${i}`,
    agent: 'bench-agent',
    value: value.toString(),
    parentOutput: '0',
    parentSalt: '0',
    parentCommitment: '0',
    output: output.toString(),
    salt: randomSalt().toString(),
  };
}

export function circuitInput(w: GenerateProofInput): Record<string, unknown> {
  return {
    taskId: toField(w.taskId),
    agent: toField(w.agent),
    outputCommitment: commitSync(BigInt(w.output), BigInt(w.salt)),
    parentCommitment: BigInt(w.parentCommitment ?? '0'),
    value: BigInt(w.value),
    parentOutput: BigInt(w.parentOutput ?? '0'),
    parentSalt: BigInt(w.parentSalt ?? '0'),
    taskOutput: BigInt(w.output),
    salt: BigInt(w.salt),
  };
}

async function measure(label: string, n: number, fn: () => Promise<void>): Promise<BenchLine> {
  const t0 = performance.now();
  await fn();
  const totalMs = performance.now() - t0;
  return { label, proofs: n, totalMs, msPerProof: totalMs / n, proofsPerSecond: (n * 1000) / totalMs };
}

export async function benchProofs(opts: BenchProofsOptions = {}): Promise<BenchProofsResult> {
  const n = opts.n ?? 20;
  const artifacts: CircuitArtifacts = await ensureArtifacts({ artifactsDir: opts.artifactsDir });
  const inputs = Array.from({ length: n }, (_, i) => witness(i));
  const acts = createProofActivities({ artifacts, timeoutMs: 60_000, maxConcurrent: 1, queueSize: n });
  const acts2 = createProofActivities({ artifacts, timeoutMs: 60_000, maxConcurrent: 2, queueSize: n });

  // warm-up: the curve's worker threads, the page cache, both code paths
  await snarkjs.groth16.fullProve(circuitInput(inputs[0]!), artifacts.wasmPath, artifacts.zkeyPath);
  await acts.generateProof(inputs[0]!);

  // The sequential paths run interleaved in rounds, so a load change on the machine hits all alike.
  const rounds = Math.min(4, n); // one round per path, each starting once
  const wasmBytes = new Uint8Array(fs.readFileSync(artifacts.wasmPath));
  const zkeyBytes = new Uint8Array(fs.readFileSync(artifacts.zkeyPath));
  const paths: Array<{ label: string; ms: number; run: (w: GenerateProofInput[]) => Promise<void> }> = [
    {
      label: 'snarkjs.groth16.fullProve (files)',
      ms: 0,
      run: async (ws) => {
        for (const w of ws) await snarkjs.groth16.fullProve(circuitInput(w), artifacts.wasmPath, artifacts.zkeyPath);
      },
    },
    {
      label: 'generateProof activity, separate calls',
      ms: 0,
      run: async (ws) => {
        for (const w of ws) await acts.generateProof(w);
      },
    },
    {
      label: 'N witnesses in one call (proveTask loop)',
      ms: 0,
      run: async (ws) => {
        for (const w of ws) await proveTask(w, artifacts);
      },
    },
    {
      label: 'snarkjs.groth16.fullProve (in memory)',
      ms: 0,
      run: async (ws) => {
        for (const w of ws)
          await snarkjs.groth16.fullProve(
            circuitInput(w),
            { type: 'mem', data: wasmBytes },
            { type: 'mem', data: zkeyBytes },
          );
      },
    },
  ];
  for (let r = 0; r < rounds; r++) {
    const slice = inputs.filter((_, i) => i % rounds === r);
    const order = [...paths.slice(r % paths.length), ...paths.slice(0, r % paths.length)]; // rotate: no path always goes first
    for (const p of order) p.ms += (await measure(p.label, slice.length, () => p.run(slice))).totalMs;
  }
  const line = (p: (typeof paths)[number]): BenchLine => ({
    label: p.label,
    proofs: n,
    totalMs: p.ms,
    msPerProof: p.ms / n,
    proofsPerSecond: (n * 1000) / p.ms,
  });
  const [raw, activity, batchInOneCall, rawInMemory] = paths.map(line) as [BenchLine, BenchLine, BenchLine, BenchLine];
  const activityParallel2 = await measure('generateProof activity, maxConcurrent 2', n, async () => {
    await Promise.all(inputs.map((w) => acts2.generateProof(w)));
  });

  const record = await proveTask(inputs[0]!, artifacts);
  const vk = JSON.parse(fs.readFileSync(artifacts.verificationKeyPath, 'utf8')) as Parameters<
    typeof snarkjs.groth16.verify
  >[0];
  const tv = performance.now();
  const verifyRuns = 10;
  for (let i = 0; i < verifyRuns; i++) await snarkjs.groth16.verify(vk, record.public_signals, record.proof);
  const verifyMs = (performance.now() - tv) / verifyRuns;

  const result: BenchProofsResult = {
    constraints: artifacts.constraints,
    verificationKeyHash: artifacts.verificationKeyHash,
    raw,
    rawInMemory,
    activity,
    activityToRawRatio: activity.proofsPerSecond / raw.proofsPerSecond,
    batchInOneCall,
    activityParallel2,
    batchToSeparateRatio: batchInOneCall.proofsPerSecond / activity.proofsPerSecond,
    verifyMs,
  };
  if (opts.print) printTable(result);
  return result;
}

function printTable(r: BenchProofsResult): void {
  const rows = [r.raw, r.rawInMemory, r.activity, r.batchInOneCall, r.activityParallel2];
  const w = Math.max(...rows.map((x) => x.label.length));
  console.log(`task circuit: ${r.constraints} constraints, vkey ${r.verificationKeyHash.slice(0, 16)}...`);
  console.log(`${'path'.padEnd(w)}  proofs  total ms  ms/proof  proofs/s`);
  for (const x of rows) {
    console.log(
      `${x.label.padEnd(w)}  ${String(x.proofs).padStart(6)}  ${x.totalMs.toFixed(0).padStart(8)}  ${x.msPerProof.toFixed(1).padStart(8)}  ${x.proofsPerSecond.toFixed(2).padStart(8)}`,
    );
  }
  console.log(`activity / raw throughput ratio: ${r.activityToRawRatio.toFixed(2)}`);
  console.log(`batch-in-one-call / separate activity calls: ${r.batchToSeparateRatio.toFixed(2)}`);
  console.log(`groth16.verify: ${r.verifyMs.toFixed(1)} ms`);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  benchProofs({ n: Number(arg('--n') ?? 20), artifactsDir: arg('--artifacts'), print: true })
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(() => releaseProverResources());
}
