/** Where tests keep their files: under .data/test, ignored by git, reused across runs where it is a cache. */
import * as path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const TEST_DATA_DIR = path.join(PROJECT_ROOT, '.data', 'test');

/**
 * This run's own folder (set by test/global-setup.ts), so two suites running at once on one machine
 * never share a database or a chain file.
 */
export function testRunDir(): string {
  const dir = process.env.AGENC_TEST_RUN_DIR;
  if (!dir) throw new Error('AGENC_TEST_RUN_DIR is not set: run the tests through jest (test/global-setup.ts)');
  return dir;
}
