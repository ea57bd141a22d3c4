/**
 * The prebuilt `agenc` CLI: client/cli.ts and the project's sources it imports, bundled by esbuild into
 * dist/agenc.cjs (not committed), so a command starts without compiling TypeScript. The packages it uses
 * stay in node_modules. Beside it, dist/agenc.cjs.inputs.json lists the files it was built from:
 * bin/agenc.js runs the bundle only while none of them is newer, and rebuilds it first otherwise, so a
 * checkout never runs a stale CLI. Plain CommonJS: it runs before anything is compiled.
 *
 *   node scripts/build-cli.js     # what the set-up (npm start, npm test, the image) runs
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const BUNDLE = path.join(ROOT, 'dist', 'agenc.cjs');
const INPUTS = `${BUNDLE}.inputs.json`;

/** The bundle when it is newer than every file it was built from, else undefined. */
function freshBundle() {
  try {
    const built = fs.statSync(BUNDLE).mtimeMs;
    const inputs = JSON.parse(fs.readFileSync(INPUTS, 'utf8'));
    for (const file of inputs) if (fs.statSync(path.join(ROOT, file)).mtimeMs > built) return undefined;
    return BUNDLE;
  } catch {
    return undefined; // not built, or an input is gone: build again
  }
}

/**
 * Builds the bundle. Written beside the target and renamed into place, inputs first, so a CLI started
 * meanwhile (or another build racing this one) never reads half a file.
 */
function buildCli() {
  const esbuild = require('esbuild');
  fs.mkdirSync(path.dirname(BUNDLE), { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  const result = esbuild.buildSync({
    absWorkingDir: ROOT,
    entryPoints: ['client/cli.ts'],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'error',
  });
  const inputs = Object.keys(result.metafile.inputs).filter((file) => !file.startsWith('node_modules/'));
  fs.writeFileSync(`${INPUTS}.${process.pid}.tmp`, JSON.stringify(inputs));
  fs.renameSync(`${INPUTS}.${process.pid}.tmp`, INPUTS);
  fs.renameSync(tmp, BUNDLE);
  return BUNDLE;
}

/** The bundle to run: fresh, or rebuilt now; undefined when it cannot be built here (no esbuild, a read-only checkout). */
function cliBundle() {
  const fresh = freshBundle();
  if (fresh) return fresh;
  try {
    return buildCli();
  } catch {
    return undefined;
  }
}

module.exports = { BUNDLE, buildCli, cliBundle, freshBundle };

if (require.main === module) {
  const started = Date.now();
  buildCli();
  console.log(`built ${path.relative(ROOT, BUNDLE)} in ${Date.now() - started} ms`);
}
