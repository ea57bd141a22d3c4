/**
 * Builds (or finds in the cache) the Groth16 artifacts of every task circuit (circuits/task.circom,
 * circuits/task-join.circom): a proof worker proves and verifies with both.
 *
 *   npx tsx scripts/build-circuits.ts [--artifacts DIR] [--ptau FILE]
 *
 * --artifacts DIR  cache root (default .data/circuits); each build lands in DIR/<circuit hash>/
 * --ptau FILE      a ceremony powers of tau (phase-2 prepared) for production; without it a
 *                  DEVELOPMENT powers of tau is generated locally (single contributor, not trusted)
 */
import * as path from 'node:path';
import { ensureTaskCircuits } from '../activities/proof/artifacts';
import { releaseProverResources } from '../activities/proof/snarkjs';

function parseArgs(argv: string[]): { artifactsDir?: string; ptauPath?: string } {
  const out: { artifactsDir?: string; ptauPath?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--artifacts') out.artifactsDir = next();
    else if (a === '--ptau') out.ptauPath = next();
    else if (a === '--help' || a === '-h') {
      console.log('usage: npx tsx scripts/build-circuits.ts [--artifacts DIR] [--ptau FILE]');
      process.exit(0);
    } else
      throw new Error(
        `unknown argument ${a}; usage: npx tsx scripts/build-circuits.ts [--artifacts DIR] [--ptau FILE]`,
      );
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const circuits = await ensureTaskCircuits({
    ...args,
    onProgress: (line) => console.log(`[build-circuits] ${line}`),
  });
  for (const a of Object.values(circuits)) {
    const say = (line: string): void => console.log(`[build-circuits] ${a.circuit}: ${line}`);
    const rel = path.relative(process.cwd(), a.dir) || a.dir;
    if (a.cacheHit)
      say(
        `cache hit: ${rel} (built ${a.builtAt} in ${(a.buildMs / 1000).toFixed(1)} s; checked in ${Date.now() - t0} ms)`,
      );
    else say(`built ${rel} in ${(a.buildMs / 1000).toFixed(1)} s`);
    say(
      `constraints: ${a.constraints}, public inputs: ${a.publicInputs}, powers of tau: 2^${a.ptauPower} (${a.ptauSource === 'generated-dev' ? 'generated locally: DEVELOPMENT ONLY' : a.ptauSource})`,
    );
    say(`wasm: ${path.relative(process.cwd(), a.wasmPath)}`);
    say(`zkey: ${path.relative(process.cwd(), a.zkeyPath)}`);
    say(`verification key: ${path.relative(process.cwd(), a.verificationKeyPath)}`);
    say(`verification key hash: ${a.verificationKeyHash}`);
  }
}

main()
  .catch((e: unknown) => {
    console.error(`[build-circuits] failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => releaseProverResources());
