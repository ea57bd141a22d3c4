/**
 * The workflow bundle for the fast tier, built as the worker builds it (workers/worker-process.ts
 * `bundleWorkflows`) and kept in .data/test/fast by the hash of what goes into it: workflow code may
 * import only workflows/, shared/ and config/schema (the lint rule in eslint.config.js), plus the pinned
 * packages (package-lock.json) and the bundler's options (workers/worker-process.ts). An unchanged tree
 * reuses the bundle; any change to those builds a new one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const DIR = path.join(ROOT, '.data', 'test', 'fast');
const INPUTS = ['workflows', 'shared', 'config/schema.ts', 'package-lock.json', 'workers/worker-process.ts'];

function files(rel: string): string[] {
  const full = path.join(ROOT, rel);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [rel];
  return readdirSync(full)
    .sort()
    .flatMap((name) => files(path.join(rel, name)));
}

function inputsHash(): string {
  const hash = createHash('sha256');
  for (const rel of INPUTS.flatMap(files))
    hash
      .update(`${rel}\0`)
      .update(readFileSync(path.join(ROOT, rel)))
      .update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** The path of a bundle of the current workflow code, built only when none matches it. */
export async function workflowBundle(): Promise<string> {
  const file = path.join(DIR, `workflow-bundle-${inputsHash()}.js`);
  if (existsSync(file)) return file;
  const { bundleWorkflows } = await import('../../workers/worker-process');
  const { code } = await bundleWorkflows();
  mkdirSync(DIR, { recursive: true });
  for (const old of readdirSync(DIR))
    if (old.startsWith('workflow-bundle-') && old.endsWith('.js')) rmSync(path.join(DIR, old), { force: true });
  // Written aside, then renamed: a reader never sees half a bundle.
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, code);
  renameSync(partial, file);
  return file;
}
