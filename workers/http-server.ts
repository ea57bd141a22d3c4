/**
 * The worker's HTTP server (port 9090 by default, as the runbook uses it): `/metrics` for Prometheus
 * and the admin API. Admin writes need `Authorization: Bearer $ADMIN_TOKEN` (compared in constant
 * time); `GET /admin/status` is read-only and open, as the runbook's post-rollback check calls it
 * without a token. Every operator write of the `agenc` CLI comes here (client/admin.ts), never straight
 * to Temporal: live configuration, pause/resume/drain/force-rollback, restore-control, rollouts'
 * start/pause/resume/approve/abort, and stake init/withdraw/release-bond.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import {
  ControlNotRunningError,
  controlHandle,
  controlStatus,
  ensureControl,
  startControlFromFile,
  statusBody,
} from '../temporal/control';
import { ConfigError, dottedKeys, formatProblem, parseConfig } from '../config/schema';
import { loadConfig, TomlSyntaxError } from '../config/load';
import {
  drainSignal,
  enableSpeculationUpdate,
  forceRollbackAllSignal,
  pauseSignal,
  replaceConfigUpdate,
  resumeSignal,
  rolloutAbortSignal,
  rolloutApproveSignal,
  rolloutPauseSignal,
  rolloutResumeSignal,
  requestRollbackUpdate,
  setConfigUpdate,
  type ControlStatus,
  type RollbackAnswer,
} from '../shared/messages';
import { defaultPlan, parsePlan, ROLLOUT_NAME_PATTERN, rolloutWorkflowId } from '../shared/rollout-model';
import type { OperatorRequest } from '../shared/operator-contract';
import type {
  CloseRecordsResult,
  SettleBondResult,
  StakeInitResult,
  StakeWithdrawResult,
} from '../shared/stake-records';
import { runOperatorAction } from '../client/commands/operator';
import { rolloutStatus, startRollout } from '../client/commands/rollout';
import { CliError } from '../client/output';
import { getTaskState, TaskNotFoundError } from '../client/tasks';
import { forceRollbackSignal } from '../shared/messages';
import { FINAL_STATUSES, taskWorkflowId } from '../shared/task-model';
import { RetryRefused, startNextAttempt } from '../temporal/attempts';

export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpServerOptions {
  client: Client;
  registry: Registry;
  logger: Logger;
  /** Empty or undefined: admin routes refuse to start unless `insecureLocalAdmin` is set. */
  adminToken?: string;
  insecureLocalAdmin?: boolean;
  /** The TOML file `/admin/config/reload` re-reads. */
  configFile: string;
  /** Fallback configuration to start the control workflow with if it is missing. */
  rawConfig: () => Record<string, unknown>;
  host?: string;
  port?: number;
}

class HttpError extends Error {
  constructor(
    public readonly status: number,
    message: string,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function sha(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Reads a JSON body of at most MAX_BODY_BYTES. Past the limit it answers 413 at once and discards the
 * rest as it arrives: destroying the request instead (as leaving a `for await` over it does) resets
 * the connection, and a client still sending then reads ECONNRESET instead of the 413.
 */
function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      const wasWithin = size <= MAX_BODY_BYTES;
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (wasWithin) {
        chunks.length = 0;
        reject(new HttpError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`));
      }
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`));
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A JSON body checked against `schema`; a 400 names each field at fault and shows an example. */
function parseBody<T>(schema: z.ZodType<T>, body: unknown, example: string): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new HttpError(400, `body ${problems.join('; ')} (for example ${example})`, { problems });
}

const rolloutName = z
  .string({ required_error: 'is required (the rollout name, e.g. "canary")' })
  .regex(
    ROLLOUT_NAME_PATTERN,
    'is not a rollout name (letters, digits, _ . -, 1-48 characters, starting with a letter or digit)',
  );
const lamports = z
  .number()
  .int('must be a whole number of lamports')
  .positive('must be > 0')
  .max(Number.MAX_SAFE_INTEGER);
const text = (what: string) => z.string({ required_error: `is required (${what})` }).min(1, 'must not be empty');

export async function startHttpServer(
  opts: HttpServerOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const { client, logger } = opts;
  const adminEnabled = Boolean(opts.adminToken) || Boolean(opts.insecureLocalAdmin);
  if (!adminEnabled) {
    logger.warn(
      'ADMIN_TOKEN is empty: admin routes are disabled (set ADMIN_TOKEN, or AGENC_INSECURE_LOCAL_ADMIN=1 for local development only)',
    );
  }
  /** Admin routes (behind the token) may bring back a closed control workflow, from its own last state. */
  const status = () => controlStatus(client, opts.rawConfig());
  /** The anonymous status route only reads: a control workflow that is not running is a 503 saying so. */
  const liveStatus = async () => {
    try {
      return await controlStatus(client);
    } catch (err) {
      if (err instanceof ControlNotRunningError) throw new HttpError(503, err.message);
      throw err;
    }
  };

  const requireToken = (req: IncomingMessage) => {
    if (!adminEnabled)
      throw new HttpError(503, 'admin routes are disabled: the worker was started without ADMIN_TOKEN');
    if (!opts.adminToken) return;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    if (!match || !timingSafeEqual(sha(match[1] as string), sha(opts.adminToken))) {
      throw new HttpError(401, 'missing or wrong bearer token: send Authorization: Bearer $ADMIN_TOKEN');
    }
  };

  /** Waits until no speculative task is active or the limit passes. */
  const waitForNoActive = async (limitMs: number) => {
    const deadline = Date.now() + limitMs;
    let s = await status();
    while (s.active_tasks > 0 && Date.now() < deadline) {
      await sleep(250);
      s = await status();
    }
    return s;
  };

  const limitFrom = (url: URL, fallback: number) => {
    const raw = url.searchParams.get('timeout_ms');
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 600_000)
      throw new HttpError(400, `timeout_ms=${raw} must be a whole number of milliseconds in [0, 600000]`);
    return n;
  };

  const updateConfig = async (run: () => Promise<ControlStatus>) => {
    try {
      return statusBody(await run());
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new HttpError(400, (err.cause as Error | undefined)?.message ?? err.message);
      }
      throw err;
    }
  };

  /** Pause and resume: the control workflow's signal, then its status. */
  const controlSignal =
    (signal: typeof pauseSignal | typeof resumeSignal, what: string) => async (req: IncomingMessage) => {
      requireToken(req);
      await status();
      await controlHandle(client).signal(signal);
      logger.warn(what);
      return [200, statusBody(await status())] as [number, unknown];
    };

  /** An operator request on the worker that holds the chain; its refusal (the root cause) is a 400. */
  const operatorAction = async <T>(request: OperatorRequest): Promise<T> => {
    try {
      return await runOperatorAction<T>(client, request);
    } catch (err) {
      if (err instanceof CliError) throw new HttpError(400, err.message);
      throw err;
    }
  };

  /** A running rollout's status; 404 when there is none of that name. */
  const rolloutNow = async (name: string) => {
    try {
      return await rolloutStatus(client, name);
    } catch (err) {
      if (err instanceof CliError) throw new HttpError(404, err.message);
      throw err;
    }
  };

  /** Pause, resume, approve or abort a rollout that has not ended (409 if it has), then its status a moment later. */
  const rolloutSignal =
    (signal: 'pause' | 'resume' | 'approve' | 'abort') =>
    async (req: IncomingMessage): Promise<[number, unknown]> => {
      requireToken(req);
      const body = parseBody(
        z.object({ name: rolloutName, reason: z.string().max(1000).optional() }).strict(),
        await readBody(req),
        signal === 'abort' ? '{"name": "canary", "reason": "why"}' : '{"name": "canary"}',
      );
      const before = await rolloutNow(body.name);
      if (before.state === 'completed' || before.state === 'aborted') {
        throw new HttpError(409, `rollout "${body.name}" has already ended (${before.state})`, { state: before.state });
      }
      const handle = client.workflow.getHandle(rolloutWorkflowId(body.name));
      if (signal === 'pause') await handle.signal(rolloutPauseSignal);
      else if (signal === 'resume') await handle.signal(rolloutResumeSignal);
      else if (signal === 'approve') await handle.signal(rolloutApproveSignal);
      else
        await handle.signal(rolloutAbortSignal, {
          reason: body.reason ?? 'aborted by an operator (agenc rollout abort)',
        });
      logger.warn({ rollout: body.name, signal, reason: body.reason }, `rollout ${signal} through the admin API`);
      // The signal is handled on a worker in a moment; show the state a little after it.
      await sleep(500);
      const after = await rolloutStatus(client, body.name).catch(() => before);
      return [200, { signal, name: body.name, status: after }];
    };

  const routes: Record<string, (req: IncomingMessage, url: URL) => Promise<[number, unknown]>> = {
    'GET /metrics': async () => [200, await opts.registry.metrics()],
    'GET /healthz': async () => [200, { ok: true }],
    'GET /admin/status': async () => [200, statusBody(await liveStatus())],
    'GET /admin/config': async (req) => {
      requireToken(req);
      const s = await status();
      // `keys`: the same, as the dotted keys POST /admin/config takes, so a value read here can be sent back.
      return [
        200,
        { config: s.config, keys: dottedKeys(s.config), config_version: s.config_version, updated_at: s.updated_at },
      ];
    },
    'POST /admin/config': async (req) => {
      requireToken(req);
      const body = await readBody(req);
      if (body === null || typeof body !== 'object' || Array.isArray(body) || !Object.keys(body as object).length) {
        throw new HttpError(
          400,
          'body must be a JSON object of dotted keys, for example {"speculation.enabled": true}',
        );
      }
      await status();
      const changes = body as Record<string, unknown>;
      // Proof workers size their pools at start (one proving slot per thread, taken from Temporal): a live
      // value would show in the status while no worker proves by it. speculation.proof.timeout_ms is live.
      if ('speculation.proof.worker_threads' in changes) {
        throw new HttpError(
          400,
          'speculation.proof.worker_threads cannot change live: each proof worker sizes its proving slots at start; ' +
            'set it in the configuration file and restart the agenc-proofs workers (speculation.proof.timeout_ms does change live)',
          { key: 'speculation.proof.worker_threads', value: changes['speculation.proof.worker_threads'] },
        );
      }
      const result = await updateConfig(() =>
        controlHandle(client).executeUpdate(setConfigUpdate, { args: [changes] }),
      );
      logger.info({ changes }, 'configuration changed through the admin API');
      return [200, result];
    },
    'POST /admin/config/reload': async (req) => {
      requireToken(req);
      let loaded;
      try {
        loaded = loadConfig({ file: opts.configFile });
      } catch (err) {
        if (err instanceof ConfigError)
          throw new HttpError(400, err.message, { problems: err.problems.map(formatProblem) });
        if (err instanceof TomlSyntaxError) throw new HttpError(400, err.message);
        throw err;
      }
      await status();
      const result = await updateConfig(() =>
        controlHandle(client).executeUpdate(replaceConfigUpdate, { args: [loaded.raw] }),
      );
      logger.info({ file: loaded.file }, 'configuration reloaded from file');
      return [200, { reloaded_from: loaded.file, ...result }];
    },
    'POST /admin/speculation/drain': async (req, url) => {
      requireToken(req);
      const limit = limitFrom(url, 110_000);
      await status();
      await controlHandle(client).signal(drainSignal);
      logger.warn({ limit_ms: limit }, 'drain requested: no new speculation');
      const s = await waitForNoActive(limit);
      const body = { drained: s.active_tasks === 0, remaining: s.active_tasks, active: s.active, ...statusBody(s) };
      return [s.active_tasks === 0 ? 200 : 504, body];
    },
    'POST /admin/speculation/force-rollback': async (req, url) => {
      requireToken(req);
      const limit = limitFrom(url, 60_000);
      const before = await status();
      await controlHandle(client).signal(forceRollbackAllSignal);
      logger.warn({ active: before.active_tasks }, 'force rollback of every active speculative task');
      const s = await waitForNoActive(limit);
      const body = { rolled_back: before.active_tasks - s.active_tasks, remaining: s.active_tasks, ...statusBody(s) };
      return [s.active_tasks === 0 ? 200 : 504, body];
    },
    'POST /admin/speculation/pause': controlSignal(pauseSignal, 'pause requested: no new speculation until resume'),
    'POST /admin/speculation/resume': controlSignal(resumeSignal, 'resume requested: pause and drain cleared'),
    'POST /admin/speculation/enable': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ reason: z.string().trim().min(1), force: z.boolean().optional() }).strict(),
        await readBody(req),
        '{"reason": "why it is safe now", "force": true} (force: re-enable before the cooldown has passed)',
      );
      const before = await status();
      const tripped = before.auto_disabled;
      if (!tripped) return [200, { outcome: 'armed', ...statusBody(before) }];
      if (!body.force) {
        throw new HttpError(
          409,
          `speculation switched itself off at ${tripped.at} (circuit breaker, ${tripped.reason}): ${tripped.detail}; ` +
            `it re-arms by itself at ${tripped.until}; to re-enable it now, send {"force": true, "reason": "..."} (agenc speculation enable --force --reason ...)`,
          { auto_disabled: tripped },
        );
      }
      const after = await controlHandle(client).executeUpdate(enableSpeculationUpdate, {
        args: [{ reason: body.reason }],
      });
      logger.warn(
        { reason: body.reason, was: tripped },
        'speculation re-enabled by an operator (circuit breaker re-armed)',
      );
      return [200, { outcome: 'enabled', ...statusBody(after) }];
    },
    'POST /admin/speculation/restore-control': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ config: z.record(z.unknown()).optional() }).strict(),
        await readBody(req),
        '{} (from its last state) or {"config": {"speculation": {…}}} (from a configuration)',
      );
      let outcome: string;
      if (body.config) {
        const parsed = parseConfig(body.config);
        if (!parsed.ok)
          throw new HttpError(400, 'configuration rejected', { problems: parsed.problems.map(formatProblem) });
        outcome = await startControlFromFile(client, body.config);
      } else {
        try {
          // The worker's file is read only for a first start ever; a closed run is restored from its own state.
          outcome = (await ensureControl(client, opts.rawConfig())).outcome;
        } catch (err) {
          if (err instanceof ControlNotRunningError) throw new HttpError(503, err.message);
          throw err;
        }
      }
      logger.warn({ outcome, from_config: Boolean(body.config) }, 'restore-control through the admin API');
      return [200, { outcome, ...statusBody(await controlStatus(client)) }];
    },
    'POST /admin/rollout/start': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ name: rolloutName, plan: z.unknown().optional() }).strict(),
        await readBody(req),
        '{"name": "canary", "plan": {"phases": [...]}} (no plan: the runbook\'s)',
      );
      const parsed = body.plan === undefined ? { ok: true as const, plan: defaultPlan() } : parsePlan(body.plan);
      if (!parsed.ok) throw new HttpError(400, 'plan is invalid', { problems: parsed.problems });
      let handle;
      try {
        handle = await startRollout(client, body.name, parsed.plan);
      } catch (err) {
        if (err instanceof CliError) throw new HttpError(409, err.message);
        throw err;
      }
      logger.warn({ rollout: body.name }, 'rollout started through the admin API');
      return [
        200,
        { started: true, name: body.name, workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId },
      ];
    },
    'POST /admin/rollout/pause': rolloutSignal('pause'),
    'POST /admin/rollout/resume': rolloutSignal('resume'),
    'POST /admin/rollout/approve': rolloutSignal('approve'),
    'POST /admin/rollout/abort': rolloutSignal('abort'),
    'POST /admin/stake/init': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ agent: text('agent name'), amount: lamports, request_id: z.string().min(1).optional() }).strict(),
        await readBody(req),
        '{"agent": "default", "amount": 1000000000}',
      );
      const result = await operatorAction<StakeInitResult>({
        kind: 'stakeInit',
        input: { agent: body.agent, amount: body.amount, requestId: body.request_id },
      });
      logger.info({ agent: body.agent, amount: body.amount }, 'stake deposited through the admin API');
      return [200, result];
    },
    'POST /admin/stake/withdraw': async (req) => {
      requireToken(req);
      const body = parseBody(
        z
          .object({ agent: text('agent name'), amount: lamports.optional(), request_id: z.string().min(1).optional() })
          .strict(),
        await readBody(req),
        '{"agent": "default", "amount": 1000} (no amount: everything available)',
      );
      const result = await operatorAction<StakeWithdrawResult>({
        kind: 'stakeWithdraw',
        input: { agent: body.agent, amount: body.amount, requestId: body.request_id },
      });
      logger.info({ agent: body.agent, amount: body.amount }, 'stake withdrawn through the admin API');
      return [200, result];
    },
    'POST /admin/chain/close-records': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ limit: z.number().int().min(1).max(100_000).optional() }).strict(),
        await readBody(req),
        '{} or {"limit": 1000}',
      );
      const result = await operatorAction<CloseRecordsResult>({ kind: 'closeRecords', input: { limit: body.limit } });
      logger.info(
        { closed: result.closed.length, lamports_returned: result.lamports_returned },
        'commitment records closed through the admin API',
      );
      return [200, result];
    },
    'POST /admin/tasks/rollback': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ task_id: text('the task to roll back'), reason: z.string().min(1).optional() }).strict(),
        await readBody(req),
        '{"task_id": "…", "reason": "manual rollback by operator"}',
      );
      const reason = body.reason ?? 'manual rollback by operator';
      const stateNow = async () => {
        try {
          return await getTaskState(client, body.task_id);
        } catch (err) {
          if (err instanceof TaskNotFoundError) throw new HttpError(404, err.message);
          throw err;
        }
      };
      const refused = (status: string, why: string): [number, unknown] => {
        throw new HttpError(409, `task ${body.task_id} is not rolled back: ${why}`, {
          task_id: body.task_id,
          status,
          why,
        });
      };
      const before = await stateNow();
      if (FINAL_STATUSES.includes(before.status))
        return refused(before.status, `already ${before.status}: nothing to roll back`);
      let answer: RollbackAnswer;
      try {
        answer = await client.workflow
          .getHandle(taskWorkflowId(body.task_id))
          .executeUpdate(requestRollbackUpdate, { args: [{ reason }] });
      } catch (err) {
        // It closed meanwhile, or its run predates the Update (it has only the signal, which answers nothing).
        const now = await stateNow();
        if (FINAL_STATUSES.includes(now.status))
          return refused(now.status, `already ${now.status}: nothing to roll back`);
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
        await client.workflow.getHandle(taskWorkflowId(body.task_id)).signal(forceRollbackSignal, { reason });
        answer = { accepted: true, status: now.status };
      }
      if (!answer.accepted) return refused(answer.status, answer.why ?? 'it cannot roll back now');
      logger.warn({ task_id: body.task_id, reason }, 'task rollback requested through the admin API');
      return [200, { task_id: body.task_id, rollback_requested: true, reason, status: answer.status }];
    },
    'POST /admin/tasks/retry': async (req) => {
      requireToken(req);
      const body = parseBody(
        z.object({ task_id: text('the task to retry'), subtree: z.boolean().optional() }).strict(),
        await readBody(req),
        '{"task_id": "…", "subtree": true}',
      );
      try {
        const next = await startNextAttempt(client, body.task_id, { subtree: body.subtree ?? false });
        logger.warn(
          { task_id: body.task_id, attempt: next!.attempt, subtree: body.subtree ?? false },
          'task retry started through the admin API',
        );
        return [200, next!];
      } catch (err) {
        if (!(err instanceof RetryRefused)) throw err;
        const status = err.code === 'unknown_task' ? 404 : err.code === 'too_many_pending' ? 429 : 400;
        throw new HttpError(status, err.message, { field: err.field, code: err.code });
      }
    },
    'POST /admin/stake/release-bond': async (req) => {
      requireToken(req);
      const body = parseBody(
        z
          .object({
            task_id: text('the task whose bond to release'),
            reason: text('why'),
            agent: z.string().min(1).optional(),
          })
          .strict(),
        await readBody(req),
        '{"task_id": "…", "reason": "terminated by mistake"}',
      );
      const result = await operatorAction<SettleBondResult>({
        kind: 'releaseBond',
        input: { taskId: body.task_id, reason: body.reason, agent: body.agent },
      });
      logger.warn({ task_id: body.task_id, reason: body.reason }, 'bond release through the admin API');
      return [200, result];
    },
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes[`${req.method} ${url.pathname}`];
    if (!route) {
      const known = Object.keys(routes).filter((k) => k.endsWith(` ${url.pathname}`));
      send(res, known.length ? 405 : 404, {
        error: known.length
          ? `${req.method} not allowed on ${url.pathname} (use ${known.join(', ')})`
          : `no route ${url.pathname}`,
      });
      return;
    }
    route(req, url)
      .then(([status, body]) => {
        if (typeof body === 'string') {
          res.writeHead(status, { 'content-type': opts.registry.contentType });
          res.end(body);
        } else send(res, status, body);
      })
      .catch((err: unknown) => {
        if (err instanceof HttpError) {
          send(res, err.status, { error: err.message, ...err.extra });
          return;
        }
        logger.error({ err, route: url.pathname }, 'admin request failed');
        send(res, 500, { error: (err as Error).message ?? String(err) });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 9090, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
