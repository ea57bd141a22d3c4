/**
 * Builds (or finds in the cache) the task circuit's Groth16 artifacts.
 *
 *   npx tsx scripts/build-circuits.ts [--artifacts DIR] [--ptau FILE]
 *
 * --artifacts DIR  cache root (default .data/circuits); the build lands in DIR/<circuit hash>/
 * --ptau FILE      a ceremony powers of tau (phase-2 prepared) for production; without it a
 *                  DEVELOPMENT powers of tau is generated locally (single contributor, not trusted)
 */
import * as path from 'node:path';
import { ensureArtifacts } from '../activities/proof/artifacts';
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
  const a = await ensureArtifacts({ ...args, onProgress: (line) => console.log(`[build-circuits] ${line}`) });
  const rel = path.relative(process.cwd(), a.dir) || a.dir;
  if (a.cacheHit)
    console.log(
      `[build-circuits] cache hit: ${rel} (built ${a.builtAt} in ${(a.buildMs / 1000).toFixed(1)} s; checked in ${Date.now() - t0} ms)`,
    );
  else console.log(`[build-circuits] built ${rel} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(
    `[build-circuits] constraints: ${a.constraints}, public inputs: ${a.publicInputs}, powers of tau: 2^${a.ptauPower} (${a.ptauSource === 'generated-dev' ? 'generated locally: DEVELOPMENT ONLY' : a.ptauSource})`,
  );
  console.log(`[build-circuits] wasm: ${path.relative(process.cwd(), a.wasmPath)}`);
  console.log(`[build-circuits] zkey: ${path.relative(process.cwd(), a.zkeyPath)}`);
  console.log(`[build-circuits] verification key: ${path.relative(process.cwd(), a.verificationKeyPath)}`);
  console.log(`[build-circuits] verification key hash: ${a.verificationKeyHash}`);
}

main()
  .catch((e: unknown) => {
    console.error(`[build-circuits] failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => releaseProverResources());
