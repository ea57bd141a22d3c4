/**
 * The fast tier's global setup (test/fast/jest.config.js): the workflow bundle (built once, reused while
 * the workflow code is unchanged: bundle.ts), and nothing else. No dev server, no circuits: each file
 * starts its own time-skipping test server.
 */
import { workflowBundle } from './bundle';
import { cliBundle } from '../../scripts/build-cli';

export default async function globalSetup(): Promise<void> {
  process.env.RUST_LOG ??= 'error';
  // The stubs fail activities on purpose, and the SDK logs every failure at warn: errors only, unless asked.
  process.env.TEST_LOG_LEVEL ??= 'error';
  process.env.AGENC_TEST_WORKFLOW_BUNDLE = await workflowBundle();
  // The prebuilt CLI (bin/agenc.js runs it; rebuilt only when a source changed).
  cliBundle();
}
