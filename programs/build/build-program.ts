/**
 * Builds a no_std Rust Solana program (`programs/<name>/`) into a deployable SBPFv1 shared object,
 * without Solana's platform tools (they cannot be installed here; see
 * /work/shared/notes/solana-program-build.md):
 *
 *   Debian's rustc (`/usr/bin/rustc`, target bpfel-unknown-none) -> LLVM bitcode
 *   + the bitcode of Debian's prebuilt `core` for that target (the object inside its rlib is bitcode)
 *   -> llvm-link-22 -> opt-22 (internalize all but the entrypoint and the mem functions, O3)
 *   -> llc-22 -march=bpfel -mcpu=v1 -> our own linker (link.ts) -> `.data/programs/<name>.so`
 *
 * Cached like the circuit artifacts (activities/proof/artifacts.ts): `<name>.json` beside the .so
 * records the source hash (the program's sources and Cargo.toml, and these build scripts) and the
 * .so's own hash; it is written last, so a .so with a matching manifest is complete. A build with the
 * same hash does nothing. A lock file keeps concurrent processes (npm test's lanes) from building twice.
 *
 * CLI: `npm run build:program [name...]` builds the named programs, or all of programs/* but build.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { withFileLock } from '../../activities/proof/file-lock';
import { linkSbpfV1 } from './link';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const PROGRAMS_DIR = path.join(PROJECT_ROOT, 'programs');
export const DEFAULT_OUT_DIR = path.join(PROJECT_ROOT, '.data', 'programs');

/** Debian's rustc: the rustup one earlier on PATH has no `core` for bpfel-unknown-none. */
export const RUSTC = '/usr/bin/rustc';
export const CORE_LIB_DIR = '/usr/lib/rustlib/bpfel-unknown-none/lib';
export const INSTALL_HINT = 'apt-get install rustc-web libstd-rust-web-dev-bpf llvm-22';

/** What stays visible after internalizing: the entrypoint, and what LLVM itself emits calls to. */
const MEM_FUNCTIONS = ['memcpy', 'memmove', 'memset', 'memcmp', 'bcmp'];
const RUSTC_FLAGS = [
  '--target=bpfel-unknown-none',
  '--crate-type=lib',
  '--emit=llvm-bc',
  '-Copt-level=3',
  '-Cpanic=abort',
  '-Ccodegen-units=1',
  '-Ctarget-cpu=v1',
  '-Cdebuginfo=0',
];
const OPT_PASSES = 'internalize,globaldce,default<O3>';
const LLC_FLAGS = ['-march=bpfel', '-mcpu=v1', '-filetype=obj'];
/** Files whose content is part of every program's hash: the build itself. */
const BUILD_SCRIPTS = [path.join(__dirname, 'build-program.ts'), path.join(__dirname, 'link.ts')];
const MANIFEST_VERSION = 1;

export interface BuildProgramOptions {
  /** Where the program sources are: `<programsDir>/<name>/` (default `<project>/programs`). */
  programsDir?: string;
  /** Where the .so and its manifest go (default `<project>/.data/programs`). */
  outDir?: string;
  /** Build even when the cache matches. */
  force?: boolean;
  /** Exported symbols besides `entrypoint` (kept through internalizing). */
  exports?: string[];
  /** Other tools than the defaults (/usr/bin/rustc, llvm-link-22, opt-22, llc-22, Debian's core). */
  toolchain?: ToolchainOverrides;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface ToolchainOverrides {
  rustc?: string;
  llvmLink?: string;
  opt?: string;
  llc?: string;
  /** The directory holding libcore-*.rlib for bpfel-unknown-none. */
  coreLibDir?: string;
}

export interface BuildProgramResult {
  soPath: string;
  /** sha256 (hex) of the sources, Cargo.toml and the build scripts. */
  sourceHash: string;
  /** False when the cache matched and nothing was built. */
  built: boolean;
  /** Time this call took. */
  seconds: number;
}

interface Manifest {
  manifestVersion: number;
  name: string;
  sourceHash: string;
  soSha256: string;
  size: number;
  syscalls: string[];
  builtAt: string;
  buildSeconds: number;
}

/** A tool of the build is not installed. */
export class ProgramToolchainError extends Error {
  override name = 'ProgramToolchainError';
  constructor(
    readonly tool: string,
    detail: string,
  ) {
    super(`cannot build Solana programs: ${tool} is missing (${detail}); install it with \`${INSTALL_HINT}\``);
  }
}

/** The build of a program failed (a compile error, a link error). */
export class ProgramBuildError extends Error {
  override name = 'ProgramBuildError';
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/** The cache key: every file under src/, Cargo.toml, and the build scripts, by path and content. */
export function programSourceHash(programDir: string): string {
  const files = [path.join(programDir, 'Cargo.toml'), ...listFiles(path.join(programDir, 'src'))];
  const entries = [
    ...files.map((f) => [path.relative(programDir, f), sha256(fs.readFileSync(f))]),
    ...BUILD_SCRIPTS.map((f) => [`build:${path.basename(f)}`, sha256(fs.readFileSync(f))]),
  ];
  return sha256(JSON.stringify({ version: MANIFEST_VERSION, entries }));
}

/** Finds an executable on PATH (or at an absolute path); undefined when there is none. */
function which(tool: string): string | undefined {
  const candidates = path.isAbsolute(tool)
    ? [tool]
    : [...(process.env.PATH ?? '').split(path.delimiter), '/usr/lib/llvm-22/bin'].map((d) => path.join(d, tool));
  return candidates.find((c) => {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return fs.statSync(c).isFile();
    } catch {
      return false;
    }
  });
}

interface Toolchain {
  rustc: string;
  llvmLink: string;
  opt: string;
  llc: string;
  coreRlib: string;
}

/** The tools of the build, or a ProgramToolchainError naming the first one missing. */
export function findToolchain(overrides: ToolchainOverrides = {}): Toolchain {
  const rustcPath = overrides.rustc ?? RUSTC;
  const rustc = which(rustcPath);
  if (!rustc) throw new ProgramToolchainError('rustc', `${rustcPath}, Debian's rustc-web`);
  const llvm = [overrides.llvmLink ?? 'llvm-link-22', overrides.opt ?? 'opt-22', overrides.llc ?? 'llc-22'];
  const [llvmLink, opt, llc] = llvm.map((tool) => {
    const found = which(tool);
    if (!found) throw new ProgramToolchainError(path.basename(tool), `${tool}, from Debian's llvm-22`);
    return found;
  }) as [string, string, string];
  const coreLibDir = overrides.coreLibDir ?? CORE_LIB_DIR;
  let rlibs: string[] = [];
  try {
    rlibs = fs.readdirSync(coreLibDir).filter((f) => /^libcore-[0-9a-f]+\.rlib$/.test(f));
  } catch {
    // reported below
  }
  if (rlibs.length !== 1) {
    throw new ProgramToolchainError(
      'core for bpfel-unknown-none',
      `${coreLibDir}/libcore-*.rlib, from Debian's libstd-rust-web-dev-bpf`,
    );
  }
  return { rustc, llvmLink, opt, llc, coreRlib: path.join(coreLibDir, rlibs[0] as string) };
}

function run(file: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new ProgramToolchainError(path.basename(file), `${file} cannot be run`));
      reject(new ProgramBuildError(`${path.basename(file)} ${args.join(' ')} failed:\n${stderr || err.message}`));
    });
  });
}

/**
 * The bitcode of Debian's `core` for bpfel-unknown-none: its rlib (an ar archive) holds one object,
 * which is LLVM bitcode. Read out once per rlib into the output directory.
 */
export function extractCoreBitcode(rlib: string, outDir: string): string {
  const out = path.join(outDir, `${path.basename(rlib, '.rlib')}.bc`);
  if (fs.existsSync(out)) return out;
  const ar = fs.readFileSync(rlib);
  if (ar.toString('latin1', 0, 8) !== '!<arch>\n') throw new ProgramBuildError(`${rlib} is not an ar archive`);
  for (let at = 8; at + 60 <= ar.length;) {
    const size = Number(ar.toString('latin1', at + 48, at + 58).trim());
    const data = ar.subarray(at + 60, at + 60 + size);
    if (data.readUInt32BE(0) === 0x4243c0de) {
      const tmp = `${out}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, data);
      fs.renameSync(tmp, out);
      return out;
    }
    at += 60 + size + (size % 2);
  }
  throw new ProgramBuildError(`${rlib} holds no LLVM bitcode (a core built without it cannot be linked this way)`);
}

function readCargoToml(programDir: string): { crateName: string; edition: string } {
  const file = path.join(programDir, 'Cargo.toml');
  const toml = parseToml(fs.readFileSync(file, 'utf8')) as {
    package?: { name?: string; edition?: string };
    lib?: { name?: string };
    dependencies?: Record<string, unknown>;
  };
  const name = toml.lib?.name ?? toml.package?.name;
  if (!name) throw new ProgramBuildError(`${file} names no package`);
  const deps = Object.keys(toml.dependencies ?? {});
  if (deps.length) {
    throw new ProgramBuildError(
      `${file}: dependencies (${deps.join(', ')}) are not supported by this build (no cargo)`,
    );
  }
  return { crateName: name.replace(/-/g, '_'), edition: toml.package?.edition ?? '2021' };
}

function readManifest(file: string): Manifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
    return m.manifestVersion === MANIFEST_VERSION ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The cached build, if its manifest matches `sourceHash` and the .so on disk is the one it recorded. */
function cached(soPath: string, manifestPath: string, sourceHash: string): Manifest | undefined {
  const m = readManifest(manifestPath);
  if (!m || m.sourceHash !== sourceHash) return undefined;
  try {
    return sha256(fs.readFileSync(soPath)) === m.soSha256 ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Builds `programs/<name>` into `<outDir>/<name>.so`, or finds it built from the same sources. */
export async function buildProgram(name: string, opts: BuildProgramOptions = {}): Promise<BuildProgramResult> {
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  const say = opts.onProgress ?? (() => undefined);
  const programDir = path.join(opts.programsDir ?? PROGRAMS_DIR, name);
  if (!fs.existsSync(path.join(programDir, 'src', 'lib.rs'))) {
    throw new ProgramBuildError(`no program ${name}: ${path.join(programDir, 'src', 'lib.rs')} does not exist`);
  }
  const outDir = path.resolve(opts.outDir ?? DEFAULT_OUT_DIR);
  const soPath = path.join(outDir, `${name}.so`);
  const manifestPath = path.join(outDir, `${name}.json`);
  const sourceHash = programSourceHash(programDir);
  if (!opts.force && cached(soPath, manifestPath, sourceHash))
    return { soPath, sourceHash, built: false, seconds: seconds() };

  fs.mkdirSync(outDir, { recursive: true });
  return withFileLock(
    path.join(outDir, `${name}.lock`),
    async () => {
      // Another process may have built it while this one waited for the lock.
      if (!opts.force && cached(soPath, manifestPath, sourceHash)) {
        return { soPath, sourceHash, built: false, seconds: seconds() };
      }
      const tools = findToolchain(opts.toolchain);
      const { crateName, edition } = readCargoToml(programDir);
      const work = fs.mkdtempSync(path.join(outDir, `.build-${name}-`));
      try {
        const bc = (step: string) => path.join(work, `${crateName}.${step}.bc`);
        say(`${name}: rustc (bpfel-unknown-none) -> bitcode`);
        await run(
          tools.rustc,
          [`--edition=${edition}`, `--crate-name=${crateName}`, ...RUSTC_FLAGS, '-o', bc('rustc'), 'src/lib.rs'],
          programDir,
        );
        const core = extractCoreBitcode(tools.coreRlib, outDir);
        say(`${name}: llvm-link with core, opt, llc`);
        await run(tools.llvmLink, [bc('rustc'), core, '-o', bc('linked')], work);
        const keep = ['entrypoint', ...MEM_FUNCTIONS, ...(opts.exports ?? [])].join(',');
        await run(
          tools.opt,
          [
            `--internalize-public-api-list=${keep}`,
            `-passes=${OPT_PASSES}`,
            '--strip-debug',
            bc('linked'),
            '-o',
            bc('opt'),
          ],
          work,
        );
        const obj = path.join(work, `${crateName}.o`);
        await run(tools.llc, [...LLC_FLAGS, bc('opt'), '-o', obj], work);
        say(`${name}: link (SBPFv1 shared object)`);
        let linked;
        try {
          linked = linkSbpfV1(fs.readFileSync(obj));
        } catch (err) {
          throw new ProgramBuildError(`${name}: ${(err as Error).message}`, { cause: err });
        }
        const tmp = path.join(work, `${name}.so`);
        fs.writeFileSync(tmp, linked.so);
        fs.renameSync(tmp, soPath);
        const manifest: Manifest = {
          manifestVersion: MANIFEST_VERSION,
          name,
          sourceHash,
          soSha256: sha256(linked.so),
          size: linked.so.length,
          syscalls: linked.syscalls,
          builtAt: new Date().toISOString(),
          buildSeconds: seconds(),
        };
        fs.writeFileSync(`${manifestPath}.tmp-${process.pid}`, `${JSON.stringify(manifest, null, 1)}\n`);
        fs.renameSync(`${manifestPath}.tmp-${process.pid}`, manifestPath); // last: a matching manifest means a complete .so
        say(`${name}: ${soPath} (${linked.so.length} bytes) in ${seconds().toFixed(1)} s`);
        return { soPath, sourceHash, built: true, seconds: seconds() };
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    },
    { onWait: () => say(`${name}: waiting for another process's build`) },
  );
}

/** The programs under programs/ (each a directory with src/lib.rs), the build itself excluded. */
export function listPrograms(programsDir = PROGRAMS_DIR): string[] {
  return fs
    .readdirSync(programsDir, { withFileTypes: true })
    .filter(
      (e) => e.isDirectory() && e.name !== 'build' && fs.existsSync(path.join(programsDir, e.name, 'src', 'lib.rs')),
    )
    .map((e) => e.name)
    .sort();
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const force = process.argv.includes('--force');
  for (const name of names.length ? names : listPrograms()) {
    const r = await buildProgram(name, { force, onProgress: (line) => process.stdout.write(`${line}\n`) });
    const size = fs.statSync(r.soPath).size;
    process.stdout.write(
      `${name}: ${path.relative(process.cwd(), r.soPath)} ${size} bytes, ${r.built ? 'built' : 'cached'} in ${r.seconds.toFixed(2)} s (source ${r.sourceHash.slice(0, 12)})\n`,
    );
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`build:program: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
