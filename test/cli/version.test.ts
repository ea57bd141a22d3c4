/**
 * `agenc --version`, the runbook's first software check. It prints this project's own version, from
 * package.json (the one place it is written), as a bare semver a script can compare; why it is below
 * the runbook's "AgenC v2.4.0+" is in the README (CLI section).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../helpers/paths';

const run = promisify(execFile);
const { version } = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };

test.each([['--version'], ['-V']])('agenc %s prints the package.json version alone and exits 0', async (flag) => {
  const { stdout, stderr } = await run(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'agenc.js'), flag], {
    cwd: PROJECT_ROOT,
  });
  expect(stdout).toBe(`${version}\n`);
  expect(stderr).toBe('');
  expect(version).toMatch(/^\d+\.\d+\.\d+$/);
});

test('the README explains the version against the runbook\'s ">= 2.4.0" requirement', () => {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  expect(readme).toMatch(/`agenc --version`[^\n]*package\.json/);
  expect(readme).toContain('2.4.0');
});
