/**
 * One Temporal dev server per jest run (test/global-setup.ts); its files run one after another, each in a
 * fresh process. `npm test` runs the suite as several such runs side by side (scripts/test.ts says which
 * files, and why).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 120_000,
  maxWorkers: 1,
  // A new worker process for every test file (0: restart after each file; it also keeps jest from running
  // the files inside its own process). In one process, what a file leaves behind (a native Temporal
  // runtime with its timers and threads, the file's modules) stays until the run ends: run in band, the
  // jest process grew to 2.5 GB and, late in the run, spent more than a core on it while tests waited for CPU.
  workerIdleMemoryLimit: 0,
  // Native handles of the SDK, snarkjs and bankrun can outlive their last test by a moment; the global
  // teardown has stopped every server by then, so the run ends instead of waiting on them.
  forceExit: true,
};
