/**
 * Bad input against the real system, property-based: Update arguments to `speculation-control`
 * (`setConfig`, `replaceConfig`, `admitSpeculations`), admin API bodies and headers, and task
 * submissions. One real worker on the suite's dev server, started from the runbook's template.
 *
 * The properties: a refusal names the field; nothing else changes (the live configuration, its
 * version and the active set are as before, and a refused Update leaves no trace in the control
 * workflow's history); a refused submission starts no workflow; the server never answers 5xx.
 */
import fc from 'fast-check';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { AdmissionError } from '../../client/tasks';
import { controlHandle, controlStatus } from '../../temporal/control';
import { CONFIG_KEYS } from '../../config/schema';
import {
  admitSpeculationsUpdate,
  type ControlStatus,
  replaceConfigUpdate,
  setConfigUpdate,
} from '../../shared/messages';
import { AGENT_NAME_PATTERN, TASK_ID_PATTERN, taskWorkflowId } from '../../shared/task-model';
import { http } from '../observability/helpers';
import { submitAsAgent } from '../helpers/agent-keys';
import { startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let port: number;

beforeAll(async () => {
  sys = await startTestSystem({ name: 'props-control', config: {} });
  port = sys.worker.httpPort!;
});
afterAll(() => sys?.close());

const KEYS = [...CONFIG_KEYS.keys()];
const live = () => controlStatus(sys.client);
/** What a refusal must leave as it was. */
const snapshot = (s: ControlStatus) => ({
  config: s.config,
  version: s.config_version,
  active: s.active,
  draining: s.draining,
  paused: s.paused,
});

/** Update results, counted to compare with what the control workflow's history recorded. */
const outcomes = { accepted: 0, refused: 0 };

async function updateOutcome(run: () => Promise<unknown>): Promise<{ ok: true } | { ok: false; message: string }> {
  try {
    await run();
    outcomes.accepted += 1;
    return { ok: true };
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    outcomes.refused += 1;
    return { ok: false, message: (err.cause as Error).message };
  }
}

function kindOf(v: unknown): string {
  return typeof v === 'number'
    ? 'number'
    : typeof v === 'boolean'
      ? 'boolean'
      : typeof v === 'string'
        ? 'string'
        : Array.isArray(v)
          ? 'list'
          : 'other';
}

/** A change of one key: a known key with any JSON value (sometimes the right kind), or any key at all. */
const change = fc.oneof(
  fc.tuple(fc.constantFrom(...KEYS), fc.jsonValue({ maxDepth: 2 })),
  fc.tuple(
    fc.constantFrom(...KEYS),
    fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()),
  ),
  fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.jsonValue({ maxDepth: 2 })),
);
const changes = fc.array(change, { minLength: 1, maxLength: 3 }).map((pairs) => Object.fromEntries(pairs));

describe('setConfig Update (what `agenc config set` and POST /admin/config send)', () => {
  test('any changes: applied exactly, or refused naming the key with nothing changed', async () => {
    await fc.assert(
      fc.asyncProperty(changes, async (c) => {
        const before = await live();
        const r = await updateOutcome(() => controlHandle(sys.client).executeUpdate(setConfigUpdate, { args: [c] }));
        const after = await live();
        const mustRefuse = Object.entries(c).some(([k, v]) => !CONFIG_KEYS.has(k) || CONFIG_KEYS.get(k) !== kindOf(v));
        if (r.ok) {
          expect(mustRefuse).toBe(false);
          expect(after.config_version).toBe(before.config_version + 1);
          for (const [k, v] of Object.entries(c)) {
            expect({
              k,
              v: k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], after.config),
            }).toEqual({ k, v });
          }
        } else {
          expect(snapshot(after)).toEqual(snapshot(before));
          expect(r.message).toMatch(/^configuration rejected: /);
          expect(Object.keys(c).some((k) => r.message.includes(k))).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });

  test('arguments that are not an object of changes: refused, nothing changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constant({}),
          fc.constant(null),
          fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
          fc.string(),
          fc.double({ noNaN: true }),
          fc.boolean(),
        ),
        async (arg) => {
          const before = await live();
          const r = await updateOutcome(() =>
            controlHandle(sys.client).executeUpdate(setConfigUpdate, { args: [arg as Record<string, unknown>] }),
          );
          expect(r).toEqual({ ok: false, message: expect.stringMatching(/JSON object of dotted keys/) });
          expect(snapshot(await live())).toEqual(snapshot(before));
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('replaceConfig Update (what POST /admin/config/reload sends)', () => {
  test('any document: applied, or refused naming the key, nothing changed', async () => {
    const section = fc.dictionary(
      fc.constantFrom('enabled', 'mode', 'max_depth', 'stake', 'features', 'proof', 'limits', 'bogus'),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 3 },
    );
    await fc.assert(
      fc.asyncProperty(section, async (speculation) => {
        const before = await live();
        const r = await updateOutcome(() =>
          controlHandle(sys.client).executeUpdate(replaceConfigUpdate, { args: [{ speculation }] }),
        );
        if (!r.ok) {
          expect(r.message).toMatch(/^configuration rejected: speculation\./);
          expect(snapshot(await live())).toEqual(snapshot(before));
        }
      }),
      { numRuns: 30 },
    );
  });

  test('a document that is not a table: refused, nothing changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.string(), fc.integer(), fc.boolean()),
        async (arg) => {
          const before = await live();
          const r = await updateOutcome(() =>
            controlHandle(sys.client).executeUpdate(replaceConfigUpdate, {
              args: [arg as unknown as Record<string, unknown>],
            }),
          );
          expect(r).toEqual({ ok: false, message: expect.stringMatching(/^configuration rejected: /) });
          expect(snapshot(await live())).toEqual(snapshot(before));
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('admitSpeculations Update (tasks asking to speculate)', () => {
  const wellFormed = {
    taskId: 't1',
    parentTaskId: 'p1',
    agent: 'default',
    depth: 1,
    parentAgent: 'default',
    workerMemoryMb: 100,
  };
  const fields = Object.keys(wellFormed) as (keyof typeof wellFormed)[];

  test('a request with any field missing or of the wrong type: refused naming the field, no task counted active', async () => {
    await sys.client.workflow.getHandle('speculation-control').executeUpdate(setConfigUpdate, {
      args: [{ 'speculation.enabled': true, 'speculation.features.rollout_percentage': 100 }],
    });
    const broken = fc
      .tuple(
        fc.constantFrom(...fields),
        fc.oneof(fc.constant(undefined), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
      )
      .filter(
        ([field, v]) => v === undefined || typeof v !== typeof wellFormed[field] || (typeof v === 'string' && v === ''),
      );
    await fc.assert(
      fc.asyncProperty(broken, fc.string({ minLength: 1, maxLength: 8 }), async ([field, value], id) => {
        const req: Record<string, unknown> = { ...wellFormed, taskId: `bad-${id}` };
        if (value === undefined) delete req[field];
        else req[field] = value;
        const before = await live();
        // A malformed request refuses its whole batch, well-formed neighbours included: nothing is counted active.
        const requests = [{ ...wellFormed, taskId: `good-${id}` }, req];
        const r = await updateOutcome(() =>
          controlHandle(sys.client).executeUpdate(admitSpeculationsUpdate, { args: [{ requests } as never] }),
        );
        expect(r).toEqual({ ok: false, message: expect.stringContaining(field) });
        expect(snapshot(await live())).toEqual(snapshot(before));
      }),
      { numRuns: 25 },
    );
  });
});

describe("the control workflow's history", () => {
  test('holds one accepted Update per accepted call and nothing of the refused ones', async () => {
    const history = await controlHandle(sys.client).fetchHistory();
    const accepted = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
    const rejected = (history.events ?? []).filter((e) => e.workflowExecutionUpdateRejectedEventAttributes).length;
    // The enable call in the admitSpeculations test went through executeUpdate directly, not updateOutcome.
    expect({ accepted, rejected }).toEqual({ accepted: outcomes.accepted + 1, rejected: 0 });
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});

describe('POST /admin/config bodies and headers', () => {
  const post = (
    body: string | Buffer,
    headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  ) => http(port, 'POST', '/admin/config', { body, headers: { 'content-type': 'application/json', ...headers } });

  const body = fc.oneof(
    fc
      .record({
        'speculation.features.rollout_percentage': fc.integer({ min: 0, max: 100 }),
        'speculation.max_depth': fc.integer({ min: 1, max: 20 }),
      })
      .map((c) => JSON.stringify(c)),
    changes.map((c) => JSON.stringify(c)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: 'grapheme', maxLength: 60 }),
    fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)),
  );

  test('any body: 200, or 400 with an error and nothing changed; never 5xx', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const before = await live();
        const res = await post(b);
        seen.add(res.status);
        expect([200, 400]).toContain(res.status);
        if (res.status === 400) {
          expect(res.json.error).toEqual(expect.any(String));
          expect(snapshot(await live())).toEqual(snapshot(before));
        }
      }),
      { numRuns: 40 },
    );
    expect(seen).toEqual(new Set([200, 400]));
  });

  test('any Authorization header but the exact bearer token: 401, nothing changed', async () => {
    const header = fc
      .oneof(
        fc.string({ maxLength: 80 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)),
        fc
          .string({ maxLength: 80 })
          .filter((s) => /^[\x21-\x7e]*$/.test(s))
          .map((s) => `Bearer ${s}`),
        fc.nat(TEST_ADMIN_TOKEN.length).map((n) => `Bearer ${TEST_ADMIN_TOKEN.slice(0, n)}`),
        fc
          .string({ minLength: 1, maxLength: 5000 })
          .filter((s) => /^[\x21-\x7e]*$/.test(s))
          .map((s) => `Bearer ${TEST_ADMIN_TOKEN}${s}`),
        fc.constantFrom(
          `bearer ${TEST_ADMIN_TOKEN}`,
          `Bearer  ${TEST_ADMIN_TOKEN}`,
          `Bearer ${TEST_ADMIN_TOKEN.toUpperCase()}`,
          `Token ${TEST_ADMIN_TOKEN}`,
        ),
      )
      .filter((h) => h !== `Bearer ${TEST_ADMIN_TOKEN}`);
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const before = await live();
        const res = await post('{"speculation.features.rollout_percentage": 42}', { authorization: h });
        expect({ header: h, status: res.status }).toEqual({ header: h, status: 401 });
        expect(snapshot(await live())).toEqual(snapshot(before));
      }),
      { numRuns: 40 },
    );
  });
});

describe('task submission with any payload', () => {
  const payload = fc.oneof(
    fc.record({
      value: fc.oneof(
        fc.integer(),
        fc.double(),
        fc.bigInt().map(Number),
        fc.string(),
        fc.constant(Number.MAX_SAFE_INTEGER + 2),
      ),
    }),
    fc.record({ value: fc.nat(), claimed_output: fc.oneof(fc.string({ unit: 'grapheme' }), fc.bigInt().map(String)) }),
    fc.jsonValue({ maxDepth: 4 }),
    fc.string({ unit: 'grapheme', minLength: 20_000, maxLength: 40_000 }).map((s) => ({ value: 1, note: s })),
    fc.nat(2_000).map((depth) => ({ value: [...Array(depth)].reduce<unknown>((inner) => ({ inner }), 1) })),
  );

  test('started only when valid; a refusal names the payload field and starts nothing', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        const taskId = `props-payload-${process.pid}-${++n}`;
        try {
          await submitAsAgent(sys.client, sys.keysDir, { type: 'compute', payload: p, taskId });
        } catch (err) {
          if (!(err instanceof AdmissionError)) throw err;
          expect(err.field).toBe('payload');
          expect(err.message).toMatch(/^payload/);
          await expect(sys.client.workflow.getHandle(taskWorkflowId(taskId)).describe()).rejects.toBeInstanceOf(
            WorkflowNotFoundError,
          );
          return;
        }
        const input = (await sys.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory()).events![0]!;
        expect(input.workflowExecutionStartedEventAttributes).toBeTruthy();
        // Only the compute type's accepted shapes enter a history, and those are small: the type's
        // strict schema is the size limit (a whole number, a 77-digit claim, a bounded work_ms).
        expect(p).toEqual(expect.objectContaining({ value: expect.any(Number) }));
        expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(256);
      }),
      { numRuns: 40 },
    );
  });

  test('payloads past the 4 MB a gRPC message may carry, or nested a million deep: refused by the type, nothing started', async () => {
    const cases = [
      { value: 1, note: 'x'.repeat(5 * 1024 * 1024) },
      { ['k'.repeat(5 * 1024 * 1024)]: 1 },
      JSON.parse(`{"value":${'['.repeat(1e6)}${']'.repeat(1e6)}}`) as unknown,
    ];
    for (const [i, p] of cases.entries()) {
      const taskId = `props-huge-${process.pid}-${i}`;
      const err = await submitAsAgent(sys.client, sys.keysDir, { type: 'compute', payload: p, taskId }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AdmissionError);
      expect((err as AdmissionError).field).toBe('payload');
      // The message names what is allowed and stays short: it does not echo the payload.
      expect((err as AdmissionError).message.length).toBeLessThan(300);
      await expect(sys.client.workflow.getHandle(taskWorkflowId(taskId)).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    }
  });

  test('task ids, parents and agents of any text: refused naming the field before anything starts', async () => {
    const text = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 80 }),
      fc.string({ minLength: 65, maxLength: 20_000 }),
    );
    const field = fc.constantFrom('taskId', 'dependsOn', 'agent') as fc.Arbitrary<'taskId' | 'dependsOn' | 'agent'>;
    await fc.assert(
      fc.asyncProperty(field, text, async (f, value) => {
        fc.pre(f === 'dependsOn' || !(f === 'taskId' ? TASK_ID_PATTERN : AGENT_NAME_PATTERN).test(value));
        const req = { type: 'compute', payload: { value: 1 }, taskId: `props-fields-${process.pid}`, [f]: value };
        let refused: AdmissionError | undefined;
        try {
          await submitAsAgent(sys.client, sys.keysDir, req);
        } catch (err) {
          if (!(err instanceof AdmissionError)) throw err;
          refused = err;
        }
        expect(refused).toBeDefined();
        expect(refused!.field).toBe({ taskId: 'task_id', dependsOn: 'depends_on', agent: 'agent' }[f]);
        if (f !== 'taskId')
          await expect(sys.client.workflow.getHandle(taskWorkflowId(req.taskId)).describe()).rejects.toBeInstanceOf(
            WorkflowNotFoundError,
          );
      }),
      { numRuns: 40 },
    );
  });
});
