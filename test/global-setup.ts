/**
 * One Temporal dev server (SQLite on disk, Web UI on a free port) for the whole jest run (`npm test`
 * runs the suite in lanes, a jest run each, see scripts/test.ts), the workflow bundle built once, and
 * the circuit artifacts built or loaded once. Tests find them through the environment set here.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureTaskCircuits } from '../activities/proof';
import { cliBundle } from '../scripts/build-cli';
import { buildProgram } from '../programs/build/build-program';
import { bundleWorkflows } from '../workers/worker-process';
import { ensureVenv, freePort, startDevServer, type DevServer } from '../workers/temporal-dev-server';
import { PROJECT_ROOT, TEST_DATA_DIR } from './helpers/paths';

declare global {
  var __AGENC_DEV_SERVER__: DevServer | undefined;
}

/** Runs older than a day are gone; recent ones stay for a look after a failure. */
function removeOldRuns(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    try {
      if (Date.now() - statSync(full).mtimeMs > 24 * 3600_000) rmSync(full, { recursive: true, force: true });
    } catch (err) {
      // `npm test`'s other lanes clean up at the same moment: what one removed is gone for the others.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export default async function globalSetup(): Promise<void> {
  const log = (m: string) => process.stderr.write(`[suite] ${m}\n`);
  process.env.RUST_LOG ??= 'error';
  const runDir = path.join(TEST_DATA_DIR, 'runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  removeOldRuns(path.join(TEST_DATA_DIR, 'runs'));
  mkdirSync(runDir, { recursive: true });
  process.env.AGENC_TEST_RUN_DIR = runDir;
  ensureVenv(log);
  // The prebuilt CLI the tests run as operators do (bin/agenc.js), built before any test spawns it.
  if (!cliBundle()) log('the prebuilt CLI could not be built: bin/agenc.js runs the TypeScript through tsx');

  const [port, uiPort] = [await freePort(), await freePort()];
  const server = await startDevServer({
    address: `127.0.0.1:${port}`,
    uiPort,
    dbFile: path.join(runDir, 'temporal.db'),
    log,
  });
  globalThis.__AGENC_DEV_SERVER__ = server;
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.AGENC_TEST_UI_URL = `http://127.0.0.1:${uiPort}`;

  // `npm test` builds the bundle once for all its lanes (scripts/test.ts) and names it here; a jest run of its
  // own builds one.
  const prebuilt = process.env.AGENC_TEST_PREBUILT_BUNDLE;
  const bundlePath = path.join(runDir, 'workflow-bundle.js');
  if (prebuilt && existsSync(prebuilt)) {
    log(`workflow bundle: ${path.relative(process.cwd(), prebuilt)} (built once by npm test)`);
    copyFileSync(prebuilt, bundlePath);
  } else {
    log('bundling workflows…');
    writeFileSync(bundlePath, (await bundleWorkflows()).code);
  }
  process.env.AGENC_TEST_WORKFLOW_BUNDLE = bundlePath;

  log('circuit artifacts of every task circuit (built once, then cached by circuit hash)…');
  const circuits = await ensureTaskCircuits({ artifactsDir: path.join(TEST_DATA_DIR, 'circuits'), onProgress: log });
  process.env.AGENC_CIRCUITS_DIR = path.join(TEST_DATA_DIR, 'circuits');

  // The custody program, built from programs/custody once and then cached by source hash (.data/programs).
  if (existsSync(path.join(PROJECT_ROOT, 'programs', 'custody', 'src', 'lib.rs'))) {
    const custody = await buildProgram('custody', { onProgress: log });
    log(`custody program ${custody.built ? 'built' : 'cached'} in ${custody.seconds.toFixed(2)} s: ${custody.soPath}`);
  }
  log(
    `ready: Temporal ${server.address}, UI ${process.env.AGENC_TEST_UI_URL}, vkeys ${Object.entries(circuits)
      .map(([name, a]) => `${name} ${a.verificationKeyHash.slice(0, 12)}`)
      .join(', ')}`,
  );
}
