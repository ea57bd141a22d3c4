/**
 * The fast tier (`npm run test:fast`): the stubbed-workflow tests of test/fast on the time-skipping test
 * server, and the pure unit tests. Its global setup builds the workflow bundle only: no dev server, no
 * circuits, no chain. Each file starts its own test server, so files may run side by side.
 */
module.exports = {
  // Relative to this file: the project root.
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: [
    '<rootDir>/test/fast/**/*.test.ts',
    '<rootDir>/test/config/schema.test.ts',
    '<rootDir>/test/config/load.test.ts',
    '<rootDir>/test/props/config.props.test.ts',
    '<rootDir>/test/workflows/*-decisions.test.ts',
    '<rootDir>/test/rollout/evidence.test.ts',
    '<rootDir>/test/security/submission-signature.test.ts',
  ],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  globalSetup: '<rootDir>/test/fast/global-setup.ts',
  testTimeout: 30_000,
  maxWorkers: 2,
  forceExit: true,
};
