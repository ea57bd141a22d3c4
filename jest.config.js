/** One Temporal dev server serves the whole suite (test/global-setup.ts); tests run serially because they share it and the machine has two cores. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 120_000,
  maxWorkers: 1,
  // Native handles of the SDK, snarkjs and bankrun can outlive their last test by a moment; the global
  // teardown has stopped every server by then, so the run ends instead of waiting on them.
  forceExit: true,
};
