/**
 * How the CLI changes the running system: every operator write goes through the worker's admin HTTP
 * API with its bearer token, never straight to Temporal, so the token is what authorises a change.
 *
 * Where: `--admin-url`, else `AGENC_ADMIN_URL`, else the local worker's `http://127.0.0.1:9090`.
 * The token: `--token-file FILE`, else `ADMIN_TOKEN`, else (for an admin API on this machine only) the
 * file `npm start` generates, `.data/admin-token` (`AGENC_DATA_DIR`). Without one the request goes
 * without a token, which a worker started with AGENC_INSECURE_LOCAL_ADMIN=1 accepts and any other refuses.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../config/load';
import { CliError, EXIT, progress } from './output';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9090';

export interface AdminOptions {
  adminUrl?: string;
  tokenFile?: string;
}

interface Token {
  value: string;
  /** Where it came from, for the error when it is refused. */
  source: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** The token file `npm start` writes (scripts/embedded-system.ts): the CLI's default on the same machine. */
export function localTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.AGENC_DATA_DIR ?? path.join(PROJECT_ROOT, '.data'), 'admin-token');
}

function readTokenFile(file: string, flag: string): Token {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the admin token from ${flag} ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  const value = text.trim();
  if (!value) throw new CliError(`${flag} ${file} is empty: it must hold the admin token (ADMIN_TOKEN)`, EXIT.usage);
  return { value, source: `${flag} ${file}` };
}

export interface AdminTarget {
  url: URL;
  token?: Token;
}

/** Where the admin API is and which token to send; reads nothing until a write needs it. */
export function resolveAdmin(opts: AdminOptions, env: NodeJS.ProcessEnv = process.env): AdminTarget {
  const raw = opts.adminUrl ?? env.AGENC_ADMIN_URL ?? DEFAULT_ADMIN_URL;
  const from = opts.adminUrl !== undefined ? '--admin-url' : env.AGENC_ADMIN_URL !== undefined ? 'AGENC_ADMIN_URL' : '';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(
      `${from} ${JSON.stringify(raw)} is not an http(s) URL of the worker's admin API (e.g. ${DEFAULT_ADMIN_URL})`,
      EXIT.usage,
    );
  }
  let token: Token | undefined;
  if (opts.tokenFile !== undefined) token = readTokenFile(opts.tokenFile, '--token-file');
  else if (env.ADMIN_TOKEN) token = { value: env.ADMIN_TOKEN, source: 'ADMIN_TOKEN' };
  else if (LOOPBACK.has(url.hostname) && existsSync(localTokenFile(env)))
    token = readTokenFile(localTokenFile(env), 'the token file');
  if (token && url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
    progress(
      `agenc: warning: the admin token goes in clear text to ${url.host}; reach the admin API over https or an SSH tunnel`,
    );
  }
  return { url, token };
}

export interface AdminAnswer<T> {
  status: number;
  body: T;
}

const exitFor = (status: number) => (status === 409 ? EXIT.negative : status >= 500 ? EXIT.system : EXIT.usage);

/**
 * One admin request. 2xx (and any status in `accept`) is the answer; anything else is a CliError with
 * the server's own message: 401 says which token to set, the API unreachable says where it was looked for.
 */
export async function adminRequest<T = Record<string, unknown>>(
  target: AdminTarget,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
  opts: { accept?: number[] } = {},
): Promise<AdminAnswer<T>> {
  const url = new URL(route.replace(/^\//, ''), target.url.href.endsWith('/') ? target.url : `${target.url.href}/`);
  const headers: Record<string, string> = {};
  if (target.token) headers.authorization = `Bearer ${target.token.value}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(
      `cannot reach the admin API at ${target.url.origin} (${cause?.code ?? cause?.message ?? (err as Error).message}): ` +
        `start the worker (npm start), or point AGENC_ADMIN_URL (or --admin-url) at its metrics/admin server`,
      EXIT.system,
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.ok || opts.accept?.includes(res.status)) {
    if (parsed === undefined || parsed === null || typeof parsed !== 'object')
      throw new CliError(
        `the admin API at ${target.url.origin} answered ${route} with something not JSON`,
        EXIT.system,
      );
    return { status: res.status, body: parsed as T };
  }
  const { error, ...details } = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const said = typeof error === 'string' ? error : `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (res.status === 401) {
    throw new CliError(
      target.token
        ? `the admin API at ${target.url.origin} refused the admin token from ${target.token.source} (401): ` +
            'set ADMIN_TOKEN to the token the worker was started with, or pass --token-file FILE'
        : `the admin API at ${target.url.origin} needs the admin token (401): set ADMIN_TOKEN to the token the worker was ` +
            `started with, or pass --token-file FILE (npm start writes it to ${path.relative(process.cwd(), localTokenFile()) || localTokenFile()})`,
      EXIT.usage,
    );
  }
  if (res.status === 404 && /^no route /.test(said)) {
    throw new CliError(
      `the admin API at ${target.url.origin} has no ${method} ${route}: is it this version's worker?`,
      EXIT.system,
    );
  }
  throw new CliError(said, exitFor(res.status), details);
}
