/**
 * The Solana program build (programs/build/build-program.ts): programs/hello from source to an SBPFv1
 * shared object with Debian's rustc and LLVM 22 and our own link step, cached by source hash.
 * program-deploy.test.ts runs what it builds through the real loader.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  PROGRAMS_DIR,
  ProgramBuildError,
  ProgramToolchainError,
  buildProgram,
  listPrograms,
} from '../../programs/build/build-program';
import { tempDir } from './helpers';

/** A copy of programs/hello under a temp programs dir, to change without touching the real one. */
function copyOfHello(): { programsDir: string; lib: string } {
  const programsDir = path.join(tempDir(), 'programs');
  fs.cpSync(path.join(PROGRAMS_DIR, 'hello'), path.join(programsDir, 'hello'), { recursive: true });
  return { programsDir, lib: path.join(programsDir, 'hello', 'src', 'lib.rs') };
}

test('builds hello from source into an SBPFv1 shared object, then finds it cached', async () => {
  const outDir = path.join(tempDir(), 'out');
  const cold = await buildProgram('hello', { outDir });
  expect(cold.built).toBe(true);
  expect(cold.soPath).toBe(path.join(outDir, 'hello.so'));
  expect(cold.sourceHash).toMatch(/^[0-9a-f]{64}$/);
  expect(cold.seconds).toBeLessThan(60);
  const so = fs.readFileSync(cold.soPath);
  expect(so.readUInt32BE(0)).toBe(0x7f454c46);
  expect(so.readUInt16LE(16)).toBe(3); // ET_DYN
  expect(so.readUInt16LE(18)).toBe(247); // EM_BPF
  expect(so.readUInt32LE(48)).toBe(0); // SBPFv1
  expect(so.includes(Buffer.from('hello: gm from agenc'))).toBe(true);
  const manifest = JSON.parse(fs.readFileSync(path.join(outDir, 'hello.json'), 'utf8')) as Record<string, unknown>;
  expect(manifest).toMatchObject({ name: 'hello', sourceHash: cold.sourceHash, size: so.length });
  expect(manifest.syscalls).toEqual(expect.arrayContaining(['abort', 'sol_log_', 'sol_memcmp_']));
  process.stderr.write(`hello: ${so.length} bytes, cold build ${cold.seconds.toFixed(2)} s\n`);

  const again = await buildProgram('hello', { outDir });
  expect(again).toMatchObject({ soPath: cold.soPath, sourceHash: cold.sourceHash, built: false });
  expect(again.seconds).toBeLessThan(1);
  expect(fs.readFileSync(again.soPath).equals(so)).toBe(true);

  // Built again from the same sources: the same bytes.
  const forced = await buildProgram('hello', { outDir, force: true });
  expect(forced.built).toBe(true);
  expect(fs.readFileSync(forced.soPath).equals(so)).toBe(true);
});

test('a change to the sources builds again; a .so changed on disk is rebuilt', async () => {
  const { programsDir, lib } = copyOfHello();
  const outDir = path.join(tempDir(), 'out');
  const first = await buildProgram('hello', { programsDir, outDir });
  fs.writeFileSync(lib, fs.readFileSync(lib, 'utf8').replace('gm from agenc', 'gm from the test'));
  const second = await buildProgram('hello', { programsDir, outDir });
  expect(second.built).toBe(true);
  expect(second.sourceHash).not.toBe(first.sourceHash);
  expect(fs.readFileSync(second.soPath).includes(Buffer.from('hello: gm from the test'))).toBe(true);

  fs.appendFileSync(second.soPath, 'x');
  expect((await buildProgram('hello', { programsDir, outDir })).built).toBe(true);
});

test('a compile error fails the build with rustc’s message', async () => {
  const { programsDir, lib } = copyOfHello();
  fs.appendFileSync(lib, '\nfn broken( {}\n');
  const outDir = path.join(tempDir(), 'out');
  const err = await buildProgram('hello', { programsDir, outDir }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProgramBuildError);
  expect((err as Error).message).toMatch(/rustc .* failed:[\s\S]*error/);
  expect(fs.existsSync(path.join(outDir, 'hello.so'))).toBe(false);
});

test('a missing tool is named, with the Debian packages that bring it', async () => {
  const outDir = path.join(tempDir(), 'out');
  const install = 'apt-get install rustc-web libstd-rust-web-dev-bpf llvm-22';
  const noLlc = await buildProgram('hello', { outDir, toolchain: { llc: 'llc-absent-22' } }).catch((e: unknown) => e);
  expect(noLlc).toBeInstanceOf(ProgramToolchainError);
  expect((noLlc as ProgramToolchainError).tool).toBe('llc-absent-22');
  expect((noLlc as Error).message).toContain(install);
  const noCore = await buildProgram('hello', { outDir, toolchain: { coreLibDir: path.join(outDir, 'none') } }).catch(
    (e: unknown) => e,
  );
  expect((noCore as Error).message).toMatch(/core for bpfel-unknown-none is missing/);
  expect((noCore as Error).message).toContain(install);
  const noRustc = await buildProgram('hello', { outDir, toolchain: { rustc: '/nonexistent/rustc' } }).catch(
    (e: unknown) => e,
  );
  expect((noRustc as Error).message).toMatch(/rustc is missing \(\/nonexistent\/rustc/);
});

test('the programs to build are the directories of programs/ with a src/lib.rs, build excluded', () => {
  const programs = listPrograms();
  expect(programs).toContain('hello');
  expect(programs).not.toContain('build');
});
