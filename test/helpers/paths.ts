/** Where tests keep their files: under .data/test, ignored by git, reused across runs where it is a cache. */
import * as path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const TEST_DATA_DIR = path.join(PROJECT_ROOT, '.data', 'test');
