/**
 * `npm run chaos [-- --seed S] [-- --quick]`: a seeded schedule of SIGKILLs of the task worker, the
 * proof worker and the Temporal dev server itself (restarted on the same SQLite file and port), each
 * aimed at a phase of a running task tree (executing, proving, bonding, committing, compensating),
 * with execution, proof and parent failures mixed in. After recovery it checks that every task ended
 * as its inputs dictate, the chain's integrity check passes, no chain action was applied twice (memos
 * per task), and every confirmed task's proof verifies. Exit 0 only when nothing is violated.
 *
 * Everything runs here on 127.0.0.1 and free ports, in `.data/chaos/<run>/`: its own dev server,
 * `tsx workers/main.ts --queues agenc-tasks` and `--queues agenc-proofs` as child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { openStakeDeps, bondAddress, commitAddress } from '../activities/chain';
import { parseMemos } from '../activities/chain/ledger';
import { ensureTaskCircuits, releaseProverResources, verifyTaskProof, type ProofRecord } from '../activities/proof';
import { runOperatorAction } from '../client/commands/operator';
import { table } from '../client/output';
import { countOpenTasks, finalTaskState, submitTask } from '../client/tasks';
import { PROJECT_ROOT } from '../config/load';
import { proofRecordQuery } from '../shared/messages';
import type { IntegrityReport } from '../shared/operator-contract';
import { PROOF_QUEUE, TASK_QUEUE } from '../shared/task-queues';
import {
  FINAL_STATUSES,
  parentCommitmentsOf,
  taskIdOfWorkflow,
  taskWorkflowId,
  type TaskState,
} from '../shared/task-model';
import {
  DATA_DIR,
  freePort,
  isListening,
  startDevServer,
  type DevServer,
  type DevServerOptions,
} from '../workers/temporal-dev-server';
import {
  expectedOutcome,
  mulberry32,
  PHASES,
  planKills,
  planTasks,
  TARGETS,
  type Phase,
  type PlannedKill,
  type PlannedTask,
  type Target,
} from './chaos-plan';

const say = (m: string) => process.stdout.write(`${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Options {
  seed: number;
  quick: boolean;
}

function parseArgs(argv: string[]): Options {
  let seed = Math.floor(Math.random() * 2 ** 31);
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--seed') {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0)
        throw new Error(`--seed takes a whole number >= 0, got ${JSON.stringify(argv[i])}`);
      seed = v;
    } else if (a !== '--')
      throw new Error(`unknown argument ${JSON.stringify(a)} (usage: npm run chaos [-- --seed S] [--quick])`);
  }
  return { seed, quick };
}

/** The run's size. Quick still has ≥ 30 tasks, kills every target and aims at every phase once. */
function sizes(quick: boolean) {
  return quick
    ? { tasks: 30, waves: 3, kills: 6, phaseWaitMs: 40_000, finalWaitMs: 150_000 }
    : { tasks: 60, waves: 5, kills: 14, phaseWaitMs: 60_000, finalWaitMs: 600_000 };
}

/** A worker process the run kills with SIGKILL and starts again; exits it did not cause are counted and restarted. */
class WorkerChild {
  private child: ChildProcess | undefined;
  private expectingExit = false;
  starts = 0;
  unexpectedExits: string[] = [];

  get pid(): number | undefined {
    return this.child?.pid;
  }

  constructor(
    readonly target: Target,
    private readonly queue: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly dir: string,
  ) {}

  start(): Promise<void> {
    this.starts += 1;
    this.expectingExit = false;
    // tsx as a loader inside one node process: SIGKILL must hit the worker itself, not a wrapper around it.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'workers/main.ts', '--queues', this.queue, '--http-port', 'off'],
      {
        cwd: PROJECT_ROOT,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    const log = createWriteStream(path.join(this.dir, `${this.target}-${this.starts}.log`));
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    child.once('exit', (code, signal) => {
      if (this.expectingExit || this.child !== child) return;
      // Nothing here killed it: note it, and bring it back as a supervisor would.
      this.unexpectedExits.push(
        `${this.target} exited by itself (code ${code}, signal ${signal}); see ${this.target}-${this.starts}.log`,
      );
      void this.start().catch((err: unknown) =>
        this.unexpectedExits.push(`${this.target} failed to restart: ${String(err)}`),
      );
    });
    return new Promise((resolve, reject) => {
      let out = '';
      const onData = (chunk: Buffer) => {
        out = (out + chunk.toString()).slice(-20_000);
        if (out.includes(`"taskQueue":"${this.queue}"`) && out.includes('worker polling')) {
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
      child.once('exit', (code) =>
        reject(new Error(`${this.target} exited with ${code} before polling:\n${out.slice(-3000)}`)),
      );
    });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Graceful stop (SIGTERM: the worker drains and releases the chain file), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface KillRecord extends PlannedKill {
  /** The task whose phase the kill landed in, or none when the phase did not occur before the deadline. */
  taskId?: string;
  /** `activity`: the phase's activity was pending; `status`: only the task's status said so. */
  seen?: 'activity' | 'status';
  atMs?: number;
}

const PHASE_STATUS: Record<Phase, string> = {
  executing: 'executing',
  proving: 'proving',
  bonding: 'waiting_parent',
  committing: 'committing',
  compensating: 'rolling_back',
};
const PHASE_ACTIVITIES: Record<Phase, string[]> = {
  executing: ['executeTask'],
  proving: ['generateProof'],
  bonding: ['lockBond'], // a scheduled activity in runs from before local-bond-lock
  committing: ['sendCommitments', 'awaitFinality', 'commitResults'],
  compensating: ['releaseBond', 'slashBond'],
};
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const WORKFLOW_TASK_STARTED = temporal.api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED;

/**
 * A task in the phase, read from the server (so no worker is needed): one running the phase's activity,
 * or, with `byStatus`, any task whose status is the phase's (a rollback waiting for its subtree is
 * compensating too, only not yet inside a chain transaction).
 */
async function taskInPhase(
  client: Client,
  phase: Phase,
  byStatus: boolean,
  workerPid: number | undefined,
): Promise<{ taskId: string; seen: 'activity' | 'status' } | undefined> {
  const candidates: string[] = [];
  const query = `WorkflowType="speculativeTask" AND ExecutionStatus="Running" AND AgencStatus="${PHASE_STATUS[phase]}"`;
  for await (const wf of client.workflow.list({ query })) candidates.push(wf.workflowId);
  const found = await Promise.all(
    candidates.slice(0, 16).map(async (id) => {
      const { raw } = await client.workflow.getHandle(id).describe();
      // Chain transactions take milliseconds: a scheduled bond lock or settlement counts, or none would
      // ever be seen. A started attempt counts when the worker about to be killed holds it (the SDK's
      // identity is pid@host): an attempt whose worker died already looks started until it times out.
      // The bond lock is a local activity inside the workflow task that admits the task (local-bond-lock):
      // a waiting task's started workflow task is where it happens.
      if (phase === 'bonding' && raw.pendingWorkflowTask?.state === WORKFLOW_TASK_STARTED) return taskIdOfWorkflow(id);
      const busy = (raw.pendingActivities ?? []).some((a) => {
        if (!PHASE_ACTIVITIES[phase].includes(a.activityType?.name ?? '')) return false;
        if (a.state === STARTED)
          return workerPid === undefined || (a.lastWorkerIdentity ?? '').startsWith(`${workerPid}@`);
        return phase === 'bonding' || phase === 'compensating';
      });
      return busy ? taskIdOfWorkflow(id) : undefined;
    }),
  );
  const busy = found.find((id) => id !== undefined);
  if (busy) return { taskId: busy, seen: 'activity' };
  const any = candidates[0] && taskIdOfWorkflow(candidates[0]);
  return byStatus && any && phase !== 'bonding' ? { taskId: any, seen: 'status' } : undefined;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const size = sizes(opts.quick);
  const replay = `npm run chaos -- --seed ${opts.seed}${opts.quick ? ' --quick' : ''}`;
  say(`chaos: seed ${opts.seed}${opts.quick ? ' (quick)' : ''}; replay with: ${replay}`);
  const started = Date.now();
  const elapsed = () => Date.now() - started;

  const rand = mulberry32(opts.seed);
  const prefix = `s${opts.seed}`;
  const tasks = planTasks(rand, { tasks: size.tasks, waves: size.waves, prefix });
  const kills: KillRecord[] = planKills(rand, { kills: size.kills, waves: size.waves, quick: opts.quick });
  const byId = new Map(tasks.map((t) => [t.taskId, t]));

  const dir = path.join(DATA_DIR, 'chaos', `${new Date().toISOString().replace(/[:.]/g, '-')}-seed-${opts.seed}`);
  mkdirSync(dir, { recursive: true });
  say(
    `chaos: ${tasks.length} tasks in ${size.waves} waves, ${kills.length} kills; logs and state in ${path.relative(PROJECT_ROOT, dir)}`,
  );

  const address = `127.0.0.1:${await freePort()}`;
  const serverOptions: DevServerOptions = {
    address,
    headless: true,
    dbFile: path.join(dir, 'temporal.db'),
    logFile: path.join(dir, 'temporal-server.log'),
    namespace: 'default',
  };
  let server: DevServer = await startDevServer(serverOptions);
  if (!server.started) throw new Error(`something else answers at ${address}; the chaos run needs a server of its own`);
  const chainFile = path.join(dir, 'chain', 'svm-accounts.json');
  const keysDir = path.join(dir, 'keys');
  const circuitsDir = process.env.AGENC_CIRCUITS_DIR ?? path.join(DATA_DIR, 'circuits');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    AGENC_CONFIG: path.join(PROJECT_ROOT, 'config', 'speculation-local.toml'),
    // Kills stall a parent's confirmation for up to a commit's 2-minute start-to-close timeout: the
    // speculative dependents must outwait that, or they roll back for a reason the inputs do not dictate.
    AGENC_SPECULATION_CONFIRMATION_TIMEOUT_MS: '600000',
    AGENC_CHAIN_FILE: chainFile,
    AGENC_KEYS_DIR: keysDir,
    AGENC_CIRCUITS_DIR: circuitsDir,
    AGENC_EMBEDDED_FINALITY_MS: '1500',
    TEMPORAL_SDK_METRICS_PORT: '0',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    TEMPORAL_LOG_LEVEL: 'WARN',
    RUST_LOG: 'error',
  };
  const workers: Record<'task-worker' | 'proof-worker', WorkerChild> = {
    'task-worker': new WorkerChild('task-worker', TASK_QUEUE, env, dir),
    'proof-worker': new WorkerChild('proof-worker', PROOF_QUEUE, env, dir),
  };
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const violations: string[] = [];
  const results = new Map<string, TaskState>();
  let lost = new Set<string>();

  const cleanUp = async () => {
    await Promise.all(Object.values(workers).map((w) => w.stop()));
    await connection.close().catch(() => undefined);
    await server.stop();
  };
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));

  try {
    // The proof worker builds or loads the circuit artifacts first; the task worker bundles the workflows.
    await Promise.all([workers['task-worker'].start(), workers['proof-worker'].start()]);
    say(`chaos: system up after ${(elapsed() / 1000).toFixed(0)} s (Temporal ${address})`);
    for (const agent of new Set(tasks.map((t) => t.agent))) {
      await runOperatorAction(client, {
        kind: 'stakeInit',
        input: { agent, amount: 1_000_000_000, requestId: `chaos-${agent}` },
      });
    }

    const kill = async (k: KillRecord) => {
      if (k.target === 'temporal-server') {
        const pid = server.pid!;
        process.kill(pid, 'SIGKILL');
        for (let i = 0; i < 100 && (isAlive(pid) || (await isListening(address))); i++) await sleep(100);
        await sleep(k.downMs);
        server = await startDevServer(serverOptions);
      } else {
        await workers[k.target].kill();
        await sleep(k.downMs);
        await workers[k.target].start();
      }
    };

    const submitWave = async (wave: number) => {
      for (const t of tasks.filter((x) => x.wave === wave)) {
        try {
          await submitTask(
            client,
            {
              type: 'compute',
              payload: t.payload,
              dependsOn: t.parentTaskId,
              agent: t.agent,
              taskId: t.taskId,
            },
            // Signed with the agent's key, which its stake init made in the workers' keys directory.
            { keysDir },
          );
        } catch (err) {
          violations.push(`task ${t.taskId} could not be submitted: ${(err as Error).message}`);
        }
      }
    };

    let submittedWaves = 0;
    const submitNextWave = async () => {
      await submitWave(submittedWaves);
      say(
        `[${(elapsed() / 1000).toFixed(0)}s] wave ${submittedWaves} submitted (${tasks.filter((t) => t.wave === submittedWaves).length} tasks)`,
      );
      submittedWaves += 1;
    };
    for (const k of kills) {
      while (submittedWaves <= k.wave) await submitNextWave();
      const waitStarted = Date.now();
      let idleCheck = 0;
      while (!k.taskId && Date.now() - waitStarted < size.phaseWaitMs) {
        // The phase's activity for the first half of the wait, then its status is enough (a rollback is
        // compensating from its first step, and its chain transactions take milliseconds).
        const victim = k.target === 'temporal-server' ? undefined : workers[k.target].pid;
        const hit = await taskInPhase(
          client,
          k.phase,
          k.phase === 'compensating' || Date.now() - waitStarted > size.phaseWaitMs / 2,
          victim,
        ).catch(() => undefined);
        if (hit) {
          Object.assign(k, hit);
          break;
        }
        if (Date.now() - idleCheck > 1000) {
          idleCheck = Date.now();
          // Everything submitted is final: the phase can only come with the next wave, so send it now.
          if ((await countOpenTasks(client).catch(() => 1)) === 0) {
            if (submittedWaves === size.waves) break;
            await submitNextWave();
          }
        }
        await sleep(50);
      }
      if (!k.taskId) {
        say(`[${(elapsed() / 1000).toFixed(0)}s] no task was ${k.phase} in time: ${k.target} not killed`);
        continue;
      }
      k.atMs = elapsed();
      say(
        `[${(k.atMs / 1000).toFixed(0)}s] SIGKILL ${k.target} while task ${k.taskId} is ${k.phase} (seen by ${k.seen}); restart after ${k.downMs} ms`,
      );
      await kill(k);
    }
    while (submittedWaves < size.waves) await submitNextWave();

    say(`[${(elapsed() / 1000).toFixed(0)}s] schedule done; waiting for every task to be final`);
    const finalDeadline = Date.now() + size.finalWaitMs;
    for (const t of tasks) {
      const handle = client.workflow.getHandle(taskWorkflowId(t.taskId));
      for (;;) {
        const info = await handle.describe().catch(() => undefined);
        if (info && info.status.name !== 'RUNNING') {
          results.set(t.taskId, await finalTaskState(client, t.taskId));
          break;
        }
        if (Date.now() > finalDeadline) {
          violations.push(
            `task ${t.taskId} is not final ${size.finalWaitMs / 1000} s after the schedule (workflow ${info?.status.name ?? 'not found'})`,
          );
          break;
        }
        await sleep(500);
      }
    }

    // Each check says when it starts: a run that dies in one (a signal, not a violation) shows where.
    say(`[${(elapsed() / 1000).toFixed(0)}s] every task final; checking outcomes and integrity`);
    lost = await proofsLostBySystem(client, results);
    checkOutcomes(tasks, byId, lost, results, violations);
    const integrity = await runOperatorAction<IntegrityReport>(client, { kind: 'checkIntegrity' });
    for (const p of integrity.problems) violations.push(`integrity: ${p}`);
    if (integrity.live_bonds !== 0)
      violations.push(`integrity: ${integrity.live_bonds} bond(s) still live after every task is final`);

    const records = new Map<string, ProofRecord | null>();
    for (const [taskId, s] of results) {
      if (s.status === 'confirmed')
        records.set(
          taskId,
          (await client.workflow.getHandle(taskWorkflowId(taskId)).query(proofRecordQuery)) as ProofRecord | null,
        );
    }
    // The chain file belongs to the task worker while it runs: stop it to read the memos.
    await Promise.all(Object.values(workers).map((w) => w.stop()));
    say(`[${(elapsed() / 1000).toFixed(0)}s] checking the chain's memos`);
    await checkMemos(tasks, results, chainFile, keysDir, violations);
    say(`[${(elapsed() / 1000).toFixed(0)}s] verifying ${records.size} proofs`);
    await checkProofs(records, results, circuitsDir, violations);
  } catch (err) {
    violations.push(`the run itself failed: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await cleanUp();
  }

  const unexpected = Object.values(workers).flatMap((w) => w.unexpectedExits);
  printSummary({
    seed: opts.seed,
    quick: opts.quick,
    kills,
    tasks,
    byId,
    results,
    lost,
    unexpected,
    durationMs: elapsed(),
  });
  if (lost.size)
    say(
      `proofs lost to kills on every attempt (rolled back as proof_unavailable, as documented): ${[...lost].join(', ')}`,
    );
  if (violations.length) {
    say(`\nchaos: ${violations.length} violation(s) with seed ${opts.seed} (replay: ${replay}):`);
    for (const v of violations) say(`  ✗ ${v}`);
    process.exitCode = 1;
  } else {
    say(`\nchaos: no violations (seed ${opts.seed})`);
  }
}

/**
 * Tasks that rolled back as `proof_unavailable` because every attempt of their proof timed out (its
 * worker killed each time), read from their histories: the documented outcome of that, not a defect.
 * Any other `proof_unavailable` stays a violation.
 */
async function proofsLostBySystem(client: Client, results: Map<string, TaskState>): Promise<Set<string>> {
  const lost = new Set<string>();
  for (const [taskId, s] of results) {
    if (s.rollback_reason !== 'proof_unavailable') continue;
    const events = (await client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory()).events ?? [];
    const proofs = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'generateProof')
        .map((e) => String(e.eventId)),
    );
    if (
      events.some(
        (e) =>
          e.activityTaskTimedOutEventAttributes &&
          proofs.has(String(e.activityTaskTimedOutEventAttributes.scheduledEventId)),
      )
    )
      lost.add(taskId);
  }
  return lost;
}

/** (a) status, rollback reason and bond of every task against what its inputs dictate. */
function checkOutcomes(
  tasks: PlannedTask[],
  byId: Map<string, PlannedTask>,
  lost: Set<string>,
  results: Map<string, TaskState>,
  violations: string[],
): void {
  for (const t of tasks) {
    const s = results.get(t.taskId);
    if (!s) continue;
    const want = expectedOutcome(t, byId, lost);
    const got = `${s.status}/${s.rollback_reason ?? '-'}`;
    if (s.status !== want.status || s.rollback_reason !== want.reason)
      violations.push(`task ${t.taskId}: ${got}, expected ${want.status}/${want.reason ?? '-'}`);
    if ((s.speculation_status === 'speculative') !== Boolean(s.bond))
      violations.push(`task ${t.taskId}: speculation ${s.speculation_status} but bond ${JSON.stringify(s.bond)}`);
    if (s.bond && s.bond.state !== want.bond)
      violations.push(`task ${t.taskId}: bond ${s.bond.state}, expected ${want.bond}`);
    if (s.status === 'confirmed' && !s.commit_signature)
      violations.push(`task ${t.taskId}: confirmed without a commit signature`);
  }
}

/**
 * (c) Memos per task, read from the chain file through the chain code: one lock per bonded task and
 * none otherwise, exactly one settlement (release or slash) per lock, one commit per confirmed task
 * and none for any other.
 */
async function checkMemos(
  tasks: PlannedTask[],
  results: Map<string, TaskState>,
  chainFile: string,
  keysDir: string,
  violations: string[],
): Promise<void> {
  // The run's own embedded chain, whatever SOLANA_RPC_URL says ('' selects the embedded SVM).
  const deps = await openStakeDeps({ accountsFile: chainFile, keysDir, rpcUrl: '' });
  try {
    const authority = deps.keys.authority().publicKey;
    const count = async (address: Parameters<typeof deps.chain.getMemoHistory>[0], taskId: string) => {
      const counts: Record<string, number> = {};
      for (const { memo } of parseMemos(await deps.chain.getMemoHistory(address), authority.toBase58())) {
        const m = memo as { action: string; task?: string };
        if (m.task === taskId) counts[m.action] = (counts[m.action] ?? 0) + 1;
      }
      return counts;
    };
    for (const t of tasks) {
      const s = results.get(t.taskId);
      if (!s) continue;
      const bond = await count(await bondAddress(deps, t.taskId), t.taskId);
      const commit = await count(await commitAddress(deps, t.taskId), t.taskId);
      const [locks, releases, slashes, commits] = [
        bond.lock ?? 0,
        bond.release ?? 0,
        bond.slash ?? 0,
        commit.commit ?? 0,
      ];
      const memos = `lock ${locks}, release ${releases}, slash ${slashes}, commit ${commits}`;
      if (locks !== (s.bond ? 1 : 0))
        violations.push(
          `task ${t.taskId}: ${locks} lock memo(s) for ${s.bond ? 'a bonded' : 'an unbonded'} task (${memos})`,
        );
      if (releases + slashes !== locks)
        violations.push(`task ${t.taskId}: ${releases + slashes} settlement(s) for ${locks} lock(s) (${memos})`);
      if (s.bond && (s.bond.state === 'slashed' ? slashes : releases) !== 1)
        violations.push(`task ${t.taskId}: bond ${s.bond.state} but memos say ${memos}`);
      if (commits !== (s.status === 'confirmed' ? 1 : 0))
        violations.push(`task ${t.taskId}: ${commits} commit memo(s) for a ${s.status} task`);
    }
  } finally {
    await deps.chain.close();
  }
}

/** (d) Every confirmed task's proof verifies against the verification key and the task's own commitments. */
async function checkProofs(
  records: Map<string, ProofRecord | null>,
  results: Map<string, TaskState>,
  artifactsDir: string,
  violations: string[],
): Promise<void> {
  const artifacts = Object.values(await ensureTaskCircuits({ artifactsDir, build: false }));
  try {
    for (const [taskId, record] of records) {
      const s = results.get(taskId)!;
      if (!record) {
        violations.push(`task ${taskId}: confirmed without a proof record`);
        continue;
      }
      const verdict = await verifyTaskProof(record, artifacts, {
        taskId,
        agent: s.agent,
        // The key the task verified its submission with: the proof binds it (tasks before agent keys: the name).
        agentPublicKey: s.agent_public_key ?? undefined,
        outputCommitment: s.result_commitment ?? '',
        ...parentCommitmentsOf(s),
      });
      if (!verdict.valid) violations.push(`task ${taskId}: proof does not verify (${verdict.reason})`);
    }
  } finally {
    await releaseProverResources();
  }
}

function printSummary(r: {
  seed: number;
  quick: boolean;
  kills: KillRecord[];
  tasks: PlannedTask[];
  byId: Map<string, PlannedTask>;
  results: Map<string, TaskState>;
  lost: Set<string>;
  unexpected: string[];
  durationMs: number;
}): void {
  say(`\nchaos summary: seed ${r.seed}${r.quick ? ' (quick)' : ''}, ${(r.durationMs / 1000).toFixed(0)} s`);
  const killRows = r.kills.map((k, i) => ({
    '#': i + 1,
    target: k.target,
    phase: k.phase,
    task: k.taskId ?? '(phase not seen: not killed)',
    seen: k.seen ?? '-',
    at_s: k.atMs === undefined ? '-' : (k.atMs / 1000).toFixed(1),
    down_ms: k.downMs,
  }));
  say(table(killRows, ['#', 'target', 'phase', 'task', 'seen', 'at_s', 'down_ms']));
  const landed = r.kills.filter((k) => k.taskId);
  const byTarget = TARGETS.map((target) => ({
    target,
    ...Object.fromEntries(
      PHASES.map((phase) => [phase, landed.filter((k) => k.target === target && k.phase === phase).length]),
    ),
  }));
  say(table(byTarget, ['target', ...PHASES]));
  say(
    `kills: ${landed.length} of ${r.kills.length} landed (${TARGETS.map((t) => `${t} ${landed.filter((k) => k.target === t).length}`).join(', ')})`,
  );
  const outcome = (s: TaskState | undefined) =>
    s ? `${s.status}${s.rollback_reason ? `/${s.rollback_reason}` : ''}` : 'not final';
  const groups = new Map<
    string,
    { expected: number; actual: number; speculative: number; slashed: number; released: number }
  >();
  const row = (key: string) =>
    groups.get(key) ?? groups.set(key, { expected: 0, actual: 0, speculative: 0, slashed: 0, released: 0 }).get(key)!;
  for (const t of r.tasks) {
    const want = expectedOutcome(t, r.byId, r.lost);
    row(`${want.status}${want.reason ? `/${want.reason}` : ''}`).expected += 1;
    const s = r.results.get(t.taskId);
    const g = row(outcome(s));
    g.actual += 1;
    if (s?.speculation_status === 'speculative') g.speculative += 1;
    if (s?.bond?.state === 'slashed') g.slashed += 1;
    if (s?.bond?.state === 'released') g.released += 1;
  }
  say(
    table(
      [...groups].map(([o, g]) => ({ outcome: o, ...g })),
      ['outcome', 'expected', 'actual', 'speculative', 'released', 'slashed'],
    ),
  );
  say(
    `tasks: ${r.tasks.length}; final: ${[...r.results.values()].filter((s) => FINAL_STATUSES.includes(s.status)).length}`,
  );
  if (r.unexpected.length) say(`unexpected exits (restarted): ${r.unexpected.join('; ')}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
