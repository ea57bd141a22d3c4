/**
 * The Dockerfile's `COPY . .` sends whatever the build context holds. Computed from the real repo
 * files by the `.dockerignore` rules (test/helpers/docker-context.ts): no key material, no local
 * state, no installed dependencies; everything the image runs.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildContext, isExcluded, parseDockerignore } from '../helpers/docker-context';
import { PROJECT_ROOT } from '../helpers/paths';

describe('the .dockerignore rule matcher', () => {
  const rules = parseDockerignore(
    ['# comment', '', '/.data', 'node_modules', '**/*.pem', 'docs/*.md', '!docs/keep.md', 'a?c', 'x/[0-9]'].join('\n'),
  );

  it.each([
    ['.data', true],
    ['.data/keys/authority.json', true],
    ['node_modules/yaml/index.js', true],
    ['sub/node_modules/x.js', false], // patterns are anchored at the context root
    ['tls.pem', true],
    ['deep/er/tls.pem', true],
    ['docs/a.md', true],
    ['docs/keep.md', false],
    ['docs/sub/a.md', false], // `*` does not cross `/`
    ['abc', true],
    ['abbc', false],
    ['x/7', true],
    ['x/y', false],
    ['package.json', false],
  ])('%s excluded: %s', (file, excluded) => {
    expect(isExcluded(rules, file)).toBe(excluded);
  });
});

describe('the build context of `docker build .`', () => {
  const context = buildContext(PROJECT_ROOT);

  it('holds no key material, local state, installed dependencies or git data', () => {
    const forbidden = context.filter(
      (file) =>
        /^(\.data|node_modules|\.venv|\.git|test-results)(\/|$)/.test(file) ||
        /(^|\/)\.env(\.|$)/.test(file) ||
        /(^|\/)admin-token$/.test(file) ||
        /\.(pem|key|ptau|zkey)$/.test(file),
    );
    expect(forbidden).toEqual([]);
  });

  it('holds no Solana keypair file (a JSON array of 64 bytes), whatever its name', () => {
    const keypairs = context.filter((file) => {
      if (!file.endsWith('.json')) return false;
      const text = readFileSync(path.join(PROJECT_ROOT, file), 'utf8').trim();
      return /^\[\s*(\d{1,3}\s*,\s*){63}\d{1,3}\s*\]$/.test(text);
    });
    expect(keypairs).toEqual([]);
  });

  it('leaves out where a running system keeps its keys, chain, token and environment, even before they exist', () => {
    const rules = parseDockerignore(readFileSync(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8'));
    for (const file of [
      '.data/keys/authority.json',
      '.data/keys/agents/default.json',
      '.data/admin-token',
      '.data/chain/svm-accounts.json',
      '.env',
      'config/.env.production',
      'tls/worker.key',
    ]) {
      expect(`${file} excluded: ${isExcluded(rules, file)}`).toBe(`${file} excluded: true`);
    }
  });

  it('holds what the image installs and runs: manifest, lockfile, sources, configuration, circuits', () => {
    expect(context).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'bin/agenc.js',
        'workers/main.ts',
        'circuits/task.circom',
        'config/speculation-template.toml',
      ]),
    );
    for (const dir of ['activities', 'client', 'temporal', 'config', 'shared', 'workers', 'workflows', 'circuits']) {
      expect(`${dir}: ${context.some((file) => file.startsWith(`${dir}/`))}`).toBe(`${dir}: true`);
    }
  });
});
