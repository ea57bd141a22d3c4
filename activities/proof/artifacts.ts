/**
 * Builds and caches the task circuits' Groth16 artifacts (TASK_CIRCUITS: task.circom for one parent,
 * task-join.circom for several; ensureTaskCircuits builds both), each the same way:
 *   circom2 compile (r1cs + wasm) -> powers of tau (generated locally, or a ceremony .ptau) ->
 *   groth16 setup -> one zkey contribution -> verification key.
 *
 * Cache layout (root defaults to <project>/.data/circuits):
 *   <root>/<key>/            complete artifacts of one circuit build; <key> = sha256 of the circuit
 *                            source, circomlib + circom2 versions, compile flags and the ptau (a
 *                            ceremony file by the sha256 of its content)
 *   <root>/<key>/manifest.json   written last, inside a temp dir that is renamed into place, so a
 *                            directory that exists is complete (a crash leaves only a .tmp-* dir)
 *   <root>/ptau/dev_pot<N>.ptau  locally generated powers of tau (shared by every circuit build)
 *   <root>/<key>.lock        held while building, so concurrent processes wait instead of duplicating
 *
 * DEVELOPMENT ONLY: without `ptauPath` the powers of tau come from a single local contributor (this
 * process, random entropy). That is fine for development and tests but is not a trusted setup; in
 * production pass a ceremony `.ptau` (e.g. Hermez powersOfTau28_hez_final_<N>.ptau) and build once,
 * then ship the cache directory to every worker (each build's zkey contribution is random, so two
 * independent builds have different verification keys).
 */
import { randomBytes, createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildBn128, snarkjs, type VerificationKey } from './snarkjs';
import { verificationKeyHash } from './canonical-json';
import { withFileLock } from './file-lock';
import { ProofArtifactMissingError } from './errors';
import { MAX_PARENT_SLOTS } from '../../shared/task-model';
// The one project root (config/load.ts): a path relative to this file would be wrong inside the CLI's bundle.
import { PROJECT_ROOT } from '../../config/load';

/**
 * The task circuits, by name (their source's basename, which a build's files keep). Both have the public
 * inputs [taskId, agent, outputCommitment, one commitment per parent slot]. task.circom, the first, is
 * what proofs made before task graphs used, and its source must not change: a changed source is another
 * cache key, so another verification key, and proofs recorded with the old one would no longer verify.
 */
export const TASK_CIRCUITS = {
  task: { source: path.join(PROJECT_ROOT, 'circuits', 'task.circom'), parentSlots: 1 },
  'task-join': { source: path.join(PROJECT_ROOT, 'circuits', 'task-join.circom'), parentSlots: MAX_PARENT_SLOTS },
} as const;
export type TaskCircuitName = keyof typeof TASK_CIRCUITS;

function isTaskCircuitName(name: string): name is TaskCircuitName {
  return Object.hasOwn(TASK_CIRCUITS, name);
}

export const DEFAULT_CIRCUIT_PATH = TASK_CIRCUITS.task.source;
export const DEFAULT_ARTIFACTS_ROOT = path.join(PROJECT_ROOT, '.data', 'circuits');
/** circom optimisation level: --O2 folds the linear constraints away (487 instead of 1042). */
const CIRCOM_FLAGS = ['--r1cs', '--wasm', '--O2'];
const MANIFEST = 'manifest.json';
const MANIFEST_VERSION = 1;

export interface ArtifactOptions {
  /** Cache root; the build goes to `<artifactsDir>/<key>/`. Default `<project>/.data/circuits`. */
  artifactsDir?: string;
  /** A ceremony (production) `.ptau`, prepared for phase 2. Without it a development ptau is generated locally. */
  ptauPath?: string;
  /** Build when the cache is missing (default true). With false a missing cache is a ProofArtifactMissingError. */
  build?: boolean;
  /** Circuit source, one of TASK_CIRCUITS' (default circuits/task.circom). */
  circuitPath?: string;
  /** Progress lines during the slow steps. */
  onProgress?: (line: string) => void;
}

export interface CircuitArtifacts {
  /** Which task circuit this is a build of (from its files' names), so how its inputs and public signals are laid out. */
  circuit: TaskCircuitName;
  /** Directory holding this build. */
  dir: string;
  key: string;
  wasmPath: string;
  zkeyPath: string;
  r1csPath: string;
  verificationKeyPath: string;
  /** sha256 (hex) of the canonical JSON of the verification key. */
  verificationKeyHash: string;
  constraints: number;
  publicInputs: number;
  /** Power of tau used (domain 2^ptauPower). */
  ptauPower: number;
  /** 'generated-dev' or the basename of the ceremony ptau. */
  ptauSource: string;
  builtAt: string;
  /** Build time of this cache entry (ms), as recorded when it was built. */
  buildMs: number;
  /** True when this call found the cache complete and built nothing. */
  cacheHit: boolean;
}

interface Manifest extends Omit<
  CircuitArtifacts,
  'circuit' | 'dir' | 'cacheHit' | 'wasmPath' | 'zkeyPath' | 'r1csPath' | 'verificationKeyPath'
> {
  manifestVersion: number;
  files: { wasm: string; zkey: string; r1cs: string; verificationKey: string };
  circomlibVersion: string;
  circom2Version: string;
}

function packageVersion(name: string): string {
  return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

/**
 * Content hashes of ceremony ptau files, by path, kept while the file's size and mtime are unchanged: a
 * ceremony file runs to gigabytes (seconds to hash), and one process may ask for the artifacts more than
 * once (each proof service, the build script, tests).
 */
const ptauHashes = new Map<string, { size: number; mtimeMs: number; sha256: Promise<string> }>();

/** SHA-256 of a file, read as a stream so a multi-gigabyte ptau is never held in memory. */
function sha256OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('error', (e) =>
        reject(
          new ProofArtifactMissingError(
            `powers of tau file ${file} cannot be read (${e.message}); make it readable by this process or pass another phase-2-prepared .ptau`,
            file,
            { cause: e },
          ),
        ),
      )
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * What the artifacts depend on in the ptau: its content. Two ceremony files with the same name and size
 * (a re-download of a different contribution round, say) give different keys, so one is never served
 * the other's zkey.
 */
async function ptauIdentity(ptauPath: string | undefined): Promise<string> {
  if (!ptauPath) return 'generated-dev';
  const file = path.resolve(ptauPath);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new ProofArtifactMissingError(
      `powers of tau file ${ptauPath} does not exist; pass an existing phase-2-prepared .ptau or omit ptauPath to generate a development one`,
      ptauPath,
    );
  }
  let known = ptauHashes.get(file);
  if (!known || known.size !== st.size || known.mtimeMs !== st.mtimeMs) {
    const entry = { size: st.size, mtimeMs: st.mtimeMs, sha256: sha256OfFile(file) };
    ptauHashes.set(file, entry);
    // A failed read is not remembered: the next call reads the file again.
    entry.sha256.catch(() => {
      if (ptauHashes.get(file) === entry) ptauHashes.delete(file);
    });
    known = entry;
  }
  return `sha256:${await known.sha256}`;
}

/** The cache key of a circuit build: what the artifacts depend on. */
export async function circuitCacheKey(circuitSource: string, ptauPath?: string): Promise<string> {
  return createHash('sha256')
    .update(
      JSON.stringify({
        circuit: circuitSource,
        circomlib: packageVersion('circomlib'),
        circom2: packageVersion('circom2'),
        flags: CIRCOM_FLAGS,
        ptau: await ptauIdentity(ptauPath),
      }),
    )
    .digest('hex');
}

function resolveRoot(artifactsDir?: string): string {
  return artifactsDir ? path.resolve(artifactsDir) : DEFAULT_ARTIFACTS_ROOT;
}

function readCircuit(circuitPath: string): string {
  try {
    return fs.readFileSync(circuitPath, 'utf8');
  } catch (e) {
    throw new ProofArtifactMissingError(
      `circuit source ${circuitPath} cannot be read (${(e as Error).message}); restore it from the repository`,
      circuitPath,
      {
        cause: e,
      },
    );
  }
}

/**
 * Loads a complete build directory (one that has a manifest and every file it lists), checking that
 * the verification key on disk still has the recorded hash. Throws ProofArtifactMissingError otherwise.
 */
export function loadArtifactsFromDir(dir: string): CircuitArtifacts {
  const manifestPath = path.join(dir, MANIFEST);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch (e) {
    throw new ProofArtifactMissingError(
      `no complete circuit build in ${dir} (${MANIFEST} missing or unreadable); run \`npx tsx scripts/build-circuits.ts\` to build the artifacts`,
      manifestPath,
      { cause: e },
    );
  }
  if (manifest.manifestVersion !== MANIFEST_VERSION) {
    throw new ProofArtifactMissingError(
      `circuit build in ${dir} has manifest version ${manifest.manifestVersion}, expected ${MANIFEST_VERSION}; delete it and rebuild`,
      manifestPath,
    );
  }
  const p = (f: string): string => path.join(dir, f);
  const circuit = path.basename(manifest.files.wasm, '.wasm');
  if (!isTaskCircuitName(circuit)) {
    throw new ProofArtifactMissingError(
      `circuit build in ${dir} is of circuit "${circuit}", which is not a task circuit (${Object.keys(TASK_CIRCUITS).join(', ')}); point the artifacts directory elsewhere or delete ${dir}`,
      manifestPath,
    );
  }
  for (const f of Object.values(manifest.files)) {
    if (!fs.existsSync(p(f))) {
      throw new ProofArtifactMissingError(
        `circuit artifact ${p(f)} is missing; delete ${dir} and run \`npx tsx scripts/build-circuits.ts\` to rebuild`,
        p(f),
      );
    }
  }
  const vk = JSON.parse(fs.readFileSync(p(manifest.files.verificationKey), 'utf8')) as unknown;
  const vkHash = verificationKeyHash(vk);
  if (vkHash !== manifest.verificationKeyHash) {
    throw new ProofArtifactMissingError(
      `verification key in ${dir} hashes to ${vkHash} but the manifest records ${manifest.verificationKeyHash}; the cache was altered: delete ${dir} and rebuild`,
      p(manifest.files.verificationKey),
    );
  }
  return {
    circuit,
    dir,
    key: manifest.key,
    wasmPath: p(manifest.files.wasm),
    zkeyPath: p(manifest.files.zkey),
    r1csPath: p(manifest.files.r1cs),
    verificationKeyPath: p(manifest.files.verificationKey),
    verificationKeyHash: manifest.verificationKeyHash,
    constraints: manifest.constraints,
    publicInputs: manifest.publicInputs,
    ptauPower: manifest.ptauPower,
    ptauSource: manifest.ptauSource,
    builtAt: manifest.builtAt,
    buildMs: manifest.buildMs,
    cacheHit: true,
  };
}

function tryLoad(dir: string): CircuitArtifacts | undefined {
  return fs.existsSync(path.join(dir, MANIFEST)) ? loadArtifactsFromDir(dir) : undefined;
}

const inProcess = new Map<string, Promise<CircuitArtifacts>>();

/**
 * Returns the artifacts of one task circuit (opts.circuitPath, default task.circom), building them if the cache has none (a cache hit takes
 * a few milliseconds). Safe to call concurrently in one process (one build is shared) and from several
 * processes (a lock file serialises builders; the build is renamed into place only when complete).
 */
export async function ensureArtifacts(opts: ArtifactOptions = {}): Promise<CircuitArtifacts> {
  const root = resolveRoot(opts.artifactsDir);
  const circuitPath = path.resolve(opts.circuitPath ?? DEFAULT_CIRCUIT_PATH);
  const key = await circuitCacheKey(readCircuit(circuitPath), opts.ptauPath);
  const dir = path.join(root, key);

  const hit = tryLoad(dir);
  if (hit) return hit;
  if (opts.build === false) {
    throw new ProofArtifactMissingError(
      `circuit artifacts for ${path.relative(PROJECT_ROOT, circuitPath)} are not built in ${dir}; run \`npx tsx scripts/build-circuits.ts${opts.artifactsDir ? ` --artifacts ${opts.artifactsDir}` : ''}\` first`,
      dir,
    );
  }
  const running = inProcess.get(dir);
  if (running) return running;
  const promise = (async () => {
    fs.mkdirSync(root, { recursive: true });
    return withFileLock(
      path.join(root, `${key}.lock`),
      async () => {
        const again = tryLoad(dir); // another process may have finished while we waited
        if (again) return again;
        removeLeftovers(root, key, dir);
        return buildInto(dir, root, key, circuitPath, opts);
      },
      { onWait: (holder) => opts.onProgress?.(`another process is building these artifacts (${holder}); waiting`) },
    );
  })();
  inProcess.set(dir, promise);
  try {
    return await promise;
  } finally {
    inProcess.delete(dir);
  }
}

/** The artifacts of every task circuit, by name. */
export type TaskCircuitArtifacts = Record<TaskCircuitName, CircuitArtifacts>;

/**
 * Returns the artifacts of every task circuit (TASK_CIRCUITS), building those the cache lacks, one after
 * the other (each build uses every core). A worker needs all of them: it proves with the circuit a task's
 * parents call for (prover.ts provingCircuitFor) and verifies a proof with the key its record names.
 */
export async function ensureTaskCircuits(
  opts: Omit<ArtifactOptions, 'circuitPath'> = {},
): Promise<TaskCircuitArtifacts> {
  const task = await ensureArtifacts({ ...opts, circuitPath: TASK_CIRCUITS.task.source });
  const join = await ensureArtifacts({ ...opts, circuitPath: TASK_CIRCUITS['task-join'].source });
  return { task, 'task-join': join };
}

/**
 * Called with the build lock held: temp directories of this key belong to builders that died (a
 * crash or kill mid-build), and a final directory without a manifest is incomplete (copied by hand,
 * or an older layout). Neither is ever read as a cache; both are removed before building.
 */
function removeLeftovers(root: string, key: string, dir: string): void {
  const prefix = `.tmp-${key.slice(0, 12)}-`;
  for (const name of fs.readdirSync(root)) {
    if (name.startsWith(prefix)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
  if (fs.existsSync(dir) && !fs.existsSync(path.join(dir, MANIFEST))) fs.rmSync(dir, { recursive: true, force: true });
}

function runCircom(circuitPath: string, outDir: string): Promise<string> {
  const cli = require.resolve('circom2/cli.js');
  return new Promise((resolve, reject) => {
    // A child process: circom2's WASI runtime calls process.exit and keeps the CPU busy.
    const child = spawn(process.execPath, [cli, circuitPath, ...CIRCOM_FLAGS, '-o', outDir], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const text = out.replace(/\x1b\[[0-9;]*m/g, '');
      if (code === 0) resolve(text);
      else reject(new Error(`circom2 failed to compile ${circuitPath} (exit ${code}):\n${text}`));
    });
  });
}

/** floor(log2(n)) + 1 for n = constraints + public inputs + outputs: what snarkjs' groth16 setup needs. */
export function requiredPtauPower(nConstraints: number, nPubInputs: number, nOutputs: number): number {
  const n = Math.max(1, nConstraints + nPubInputs + nOutputs);
  return Math.floor(Math.log2(n)) + 1;
}

async function timed<T>(progress: (l: string) => void, label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  progress(`${label} ...`);
  const ticker = setInterval(() => progress(`  ... ${label}: ${Math.round((Date.now() - t0) / 1000)} s`), 10_000);
  ticker.unref();
  try {
    const r = await fn();
    progress(`${label}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  } finally {
    clearInterval(ticker);
  }
}

/** A development powers of tau (phase-2 prepared), generated locally and cached under <root>/ptau/. */
async function ensureDevPtau(root: string, power: number, progress: (l: string) => void): Promise<string> {
  const ptauDir = path.join(root, 'ptau');
  const final = path.join(ptauDir, `dev_pot${power}.ptau`);
  if (fs.existsSync(final)) {
    progress(`powers of tau 2^${power}: cached (${path.relative(process.cwd(), final)})`);
    return final;
  }
  fs.mkdirSync(ptauDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(ptauDir, `.tmp-pot${power}-`));
  try {
    const curve = await buildBn128();
    const p0 = path.join(tmp, 'pot_0.ptau');
    const p1 = path.join(tmp, 'pot_1.ptau');
    const pf = path.join(tmp, 'pot_final.ptau');
    progress(`powers of tau 2^${power}: DEVELOPMENT setup, single local contributor (not a trusted ceremony)`);
    await timed(progress, `powers of tau 2^${power}: new accumulator`, () =>
      snarkjs.powersOfTau.newAccumulator(curve, power, p0),
    );
    await timed(progress, `powers of tau 2^${power}: contribution`, () =>
      snarkjs.powersOfTau.contribute(p0, p1, 'agenc-speculate dev', randomBytes(32).toString('hex')),
    );
    await timed(progress, `powers of tau 2^${power}: prepare phase 2 (slowest step)`, () =>
      snarkjs.powersOfTau.preparePhase2(p1, pf),
    );
    fs.renameSync(pf, final); // atomic; a concurrent builder's equivalent file may be replaced, which is harmless
    return final;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function buildInto(
  dir: string,
  root: string,
  key: string,
  circuitPath: string,
  opts: ArtifactOptions,
): Promise<CircuitArtifacts> {
  const progress = opts.onProgress ?? (() => undefined);
  const t0 = Date.now();
  const tmp = fs.mkdtempSync(path.join(root, `.tmp-${key.slice(0, 12)}-`));
  try {
    await timed(
      progress,
      `compiling ${path.relative(process.cwd(), circuitPath)} with circom2 ${packageVersion('circom2')}`,
      () => runCircom(circuitPath, tmp),
    );
    const base = path.basename(circuitPath, '.circom');
    const r1cs = path.join(tmp, `${base}.r1cs`);
    const wasm = path.join(tmp, `${base}.wasm`);
    fs.renameSync(path.join(tmp, `${base}_js`, `${base}.wasm`), wasm);
    fs.rmSync(path.join(tmp, `${base}_js`), { recursive: true, force: true });
    fs.copyFileSync(circuitPath, path.join(tmp, `${base}.circom`));

    const info = await snarkjs.r1cs.info(r1cs);
    const power = requiredPtauPower(info.nConstraints, info.nPubInputs, info.nOutputs);
    progress(
      `circuit: ${info.nConstraints} constraints, ${info.nPubInputs} public inputs -> needs powers of tau 2^${power}`,
    );

    const ptau = opts.ptauPath ? path.resolve(opts.ptauPath) : await ensureDevPtau(root, power, progress);
    if (opts.ptauPath) progress(`powers of tau: using ${ptau}`);

    const z0 = path.join(tmp, `${base}_0000.zkey`);
    const zkey = path.join(tmp, `${base}.zkey`);
    await timed(progress, 'groth16 setup', async () => {
      const errors: string[] = [];
      const logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: (m: string) => errors.push(m),
        error: (m: string) => errors.push(m),
      };
      const ok = await snarkjs.zKey.newZKey(r1cs, ptau, z0, logger);
      if (typeof ok === 'number' || !fs.existsSync(z0)) {
        throw new Error(
          `groth16 setup failed (${errors.join('; ') || 'no reason given'}): ${ptau} must be a phase-2-prepared powers of tau with power >= ${power}`,
        );
      }
    });
    await timed(progress, 'zkey contribution', () =>
      snarkjs.zKey.contribute(z0, zkey, 'agenc-speculate', randomBytes(32).toString('hex')),
    );
    fs.rmSync(z0, { force: true });
    const vk: VerificationKey = await snarkjs.zKey.exportVerificationKey(zkey);
    const vkFile = path.join(tmp, 'verification_key.json');
    fs.writeFileSync(vkFile, `${JSON.stringify(vk, null, 2)}\n`);

    const manifest: Manifest = {
      manifestVersion: MANIFEST_VERSION,
      key,
      files: {
        wasm: path.basename(wasm),
        zkey: path.basename(zkey),
        r1cs: path.basename(r1cs),
        verificationKey: path.basename(vkFile),
      },
      verificationKeyHash: verificationKeyHash(vk),
      constraints: info.nConstraints,
      publicInputs: info.nPubInputs,
      ptauPower: power,
      ptauSource: opts.ptauPath ? path.basename(opts.ptauPath) : 'generated-dev',
      circomlibVersion: packageVersion('circomlib'),
      circom2Version: packageVersion('circom2'),
      builtAt: new Date().toISOString(),
      buildMs: Date.now() - t0,
    };
    fs.writeFileSync(path.join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
      progress(`another process completed ${dir} first; using it`);
    }
    const built = loadArtifactsFromDir(dir);
    progress(
      `artifacts ready in ${path.relative(process.cwd(), dir) || dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );
    return { ...built, cacheHit: false };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
