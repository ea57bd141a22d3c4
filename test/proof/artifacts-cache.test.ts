/**
 * The artifacts cache across processes: a build killed half-way leaves nothing that looks complete,
 * and two processes building at once end up with one intact cache; a ceremony ptau is part of the
 * cache key by its content, not its name. Uses the development ptau of the
 * shared test cache as a "ceremony" ptau so a fresh cache root costs only compile + setup of both task
 * circuits (~15 s).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  circuitCacheKey,
  DEFAULT_CIRCUIT_PATH,
  ensureArtifacts,
  ensureTaskCircuits,
} from '../../activities/proof/artifacts';
import { ProofArtifactMissingError } from '../../activities/proof/errors';
import { releaseProverResources } from '../../activities/proof/snarkjs';
import { testRunDir } from '../helpers/paths';
import { TEST_ARTIFACTS_ROOT, TEST_SCRATCH_DIR } from './helpers';

jest.setTimeout(180_000);

const PROJECT = path.resolve(__dirname, '..', '..');
const ROOT = path.join(TEST_SCRATCH_DIR, 'concurrent-root');
let ptau: string;

beforeAll(async () => {
  // the join circuit's: the larger, so large enough for both circuits
  const a = (await ensureTaskCircuits({ artifactsDir: TEST_ARTIFACTS_ROOT }))['task-join'];
  ptau = path.join(TEST_ARTIFACTS_ROOT, 'ptau', `dev_pot${a.ptauPower}.ptau`);
  expect(fs.existsSync(ptau)).toBe(true);
  fs.rmSync(ROOT, { recursive: true, force: true });
});

afterAll(async () => {
  await releaseProverResources();
});

interface Run {
  code: number | null;
  out: string;
}

function buildProcess(killWhen?: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    // tsx loaded in-process (`node --import tsx`), so killing the child kills the build itself
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/build-circuits.ts', '--artifacts', ROOT, '--ptau', ptau],
      {
        cwd: PROJECT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (killWhen && killWhen.test(out)) child.kill('SIGKILL');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('a build killed mid-way leaves no cache that looks complete', async () => {
  const run = await buildProcess(/groth16 setup \.\.\./);
  expect(run.code).not.toBe(0);
  const key = await circuitCacheKey(fs.readFileSync(DEFAULT_CIRCUIT_PATH, 'utf8'), ptau);
  expect(fs.existsSync(path.join(ROOT, key))).toBe(false);
  expect(fs.readdirSync(ROOT).some((n) => n.startsWith('.tmp-'))).toBe(true); // the dead builder's work, never read
  await expect(ensureArtifacts({ artifactsDir: ROOT, ptauPath: ptau, build: false })).rejects.toThrow(
    ProofArtifactMissingError,
  );
});

test('two processes building at once: each circuit built once, the other process waits, one intact cache', async () => {
  const [a, b] = await Promise.all([buildProcess(), buildProcess()]);
  expect(a.code).toBe(0);
  expect(b.code).toBe(0);
  const hashOf = (r: Run): string | undefined => /task: verification key hash: ([0-9a-f]{64})/.exec(r.out)?.[1];
  expect(hashOf(a)).toBeDefined();
  expect(hashOf(a)).toBe(hashOf(b));
  const built = [a, b].flatMap((r) => [...r.out.matchAll(/\] (task|task-join): built /g)].map((m) => m[1]));
  expect(built.sort()).toEqual(['task', 'task-join']);
  const art = await ensureArtifacts({ artifactsDir: ROOT, ptauPath: ptau, build: false });
  expect(art.verificationKeyHash).toBe(hashOf(a));
  // leftovers of the killed build were cleaned up by the builder; the lock is released
  expect(fs.readdirSync(ROOT).filter((n) => n.startsWith('.tmp-') || n.endsWith('.lock'))).toEqual([]);
});

test('a ceremony ptau keys the cache by its content: same name and size, different bytes, different key', async () => {
  const circuit = fs.readFileSync(DEFAULT_CIRCUIT_PATH, 'utf8');
  const scratch = fs.mkdtempSync(path.join(testRunDir(), 'ptau-identity-'));
  const place = (dir: string, name: string, bytes: Buffer): string => {
    fs.mkdirSync(path.join(scratch, dir), { recursive: true });
    const file = path.join(scratch, dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  try {
    // Two downloads of "the same" ceremony file that differ in one byte (another round, a corrupted copy).
    const content = Buffer.alloc(3 << 20, 7);
    const other = Buffer.from(content);
    other[other.length - 1] = 8;
    const a = place('a', 'powersOfTau28_hez_final_12.ptau', content);
    const b = place('b', 'powersOfTau28_hez_final_12.ptau', other);
    expect(fs.statSync(a).size).toBe(fs.statSync(b).size);
    const keyA = await circuitCacheKey(circuit, a);
    expect(await circuitCacheKey(circuit, b)).not.toBe(keyA);

    // The same content under another name is the same ceremony, so the same build.
    expect(await circuitCacheKey(circuit, place('c', 'renamed.ptau', content))).toBe(keyA);

    // Rewritten in place (same name, same size): the hash remembered for the old file is not reused.
    fs.writeFileSync(a, other);
    fs.utimesSync(a, new Date(), new Date(Date.now() + 5_000));
    expect(await circuitCacheKey(circuit, a)).toBe(await circuitCacheKey(circuit, b));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
