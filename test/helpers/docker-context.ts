/**
 * What `docker build .` sends to the engine: every file under the context root that `.dockerignore`
 * does not exclude. No Docker engine runs here, so the rules are applied the way the engine documents
 * them (https://docs.docker.com/build/concepts/context/#dockerignore-files):
 *   - one pattern a line; blank lines and lines starting with `#` are ignored;
 *   - a pattern is relative to the context root (a leading `/` means the same), cleaned like a path;
 *   - `*` matches any run of characters except `/`, `?` one character except `/`, `[...]` a class,
 *     `**` any number of directories (zero included);
 *   - a pattern that matches a directory excludes everything under it;
 *   - `!pattern` re-includes, and the last pattern that matches a path decides.
 * Symbolic links are sent as links, never followed (node_modules and .venv are links in worktrees).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface IgnoreRule {
  pattern: string;
  exclude: boolean;
  regex: RegExp;
}

function cleanPattern(raw: string): string {
  const cleaned = path.posix.normalize(raw).replace(/^\/+/, '').replace(/\/+$/, '');
  return cleaned === '.' ? '' : cleaned;
}

function globToRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` may match no directory at all; a trailing or inner `**` matches across separators.
      if (pattern[i + 2] === '/') {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`.dockerignore pattern "${pattern}" has an unclosed "["`);
      const body = pattern.slice(i + 1, end).replace(/^\^/, '!');
      out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (c === '\\') {
      out += `\\${pattern[i + 1] ?? '\\'}`;
      i += 1;
    } else out += c.replace(/[.+^${}()|\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!');
      const pattern = cleanPattern(exclude ? line : line.slice(1).trim());
      return { pattern, exclude, regex: globToRegex(pattern) };
    })
    .filter((rule) => rule.pattern !== '');
}

/** Whether `relative` (slash-separated, from the context root) is left out of the build context. */
export function isExcluded(rules: IgnoreRule[], relative: string): boolean {
  const parts = relative.split('/');
  const selfAndParents = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (selfAndParents.some((candidate) => rule.regex.test(candidate))) excluded = rule.exclude;
  }
  return excluded;
}

/** Files (and links) the context would hold, relative to `root`, sorted. */
export function buildContext(root: string): string[] {
  const ignoreFile = path.join(root, '.dockerignore');
  const rules = parseDockerignore(readFileSync(ignoreFile, 'utf8'));
  const reincludes = rules.some((rule) => !rule.exclude);
  const files: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const excluded = isExcluded(rules, child);
      const isDir = entry.isDirectory() && !lstatSync(path.join(root, child)).isSymbolicLink();
      if (isDir) {
        // An excluded directory can hold something sent only when a `!` rule might re-include it.
        if (!excluded || reincludes) walk(child);
      } else if (!excluded) files.push(child);
    }
  };
  walk('');
  return files.sort();
}
