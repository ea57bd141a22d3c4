/** `agenc task submit|status|wait|list|graph|rollback`, as the runbook's smoke tests use them. */
import { type Command, Option } from 'commander';
import { taskTypeNames } from '../../activities/task-types/registry';
import { dependencySpec, describeUndo, type TaskState, TASK_STATUSES } from '../../shared/task-model';
import {
  CliError,
  emit,
  EXIT,
  type OutputOptions,
  parseJsonArg,
  parsePositiveNumber,
  progress,
  table,
  withOutput,
} from '../output';
import {
  AdmissionError,
  agentSigningKey,
  checkSubmitRequest,
  DEFAULT_AGENT,
  getTaskState,
  InvalidArgumentError,
  listTasks,
  parseDependsOn,
  submitTask,
  TaskNotFoundError,
  waitForTask,
} from '../tasks';
import type { AdminFactory, ClientFactory } from './context';
import { adminRequest } from '../admin';
import type { NextAttempt } from '../../temporal/attempts';
import { DEFAULT_MAX_NODES, parentsOfState, renderGraphDot, renderGraphText, taskGraph } from '../task-graph';

function describeParents(s: TaskState): string {
  const parents = parentsOfState(s);
  return parents.length ? parents.map((p) => `${p.task_id} (${p.kind})`).join(', ') : '-';
}

function describeState(s: TaskState): string {
  const lines = [
    `task ${s.task_id} (${s.type}, agent ${s.agent}${s.agent_public_key ? `, key ${s.agent_public_key}` : ''})`,
    `  status:             ${s.status}${s.waiting_for ? ` — waiting for ${s.waiting_for}` : ''}`,
    `  speculation_status: ${s.speculation_status}${s.depth ? ` (depth ${s.depth})` : ''}`,
    `  parents:            ${describeParents(s)}   root: ${s.root_task_id}`,
    `  dependents:         ${s.dependents.length ? s.dependents.join(', ') : '-'}`,
    `  result commitment:  ${s.result_commitment ?? '-'}`,
    `  bond:               ${s.bond ? `${s.bond.amount} lamports, ${s.bond.state}${s.bond.settled_by ? ` in task ${s.bond.settled_by}'s cascade` : ''} (${s.bond.address})` : '-'}`,
    `  proof:              ${s.proof.state}${s.proof.duration_ms ? ` in ${s.proof.duration_ms} ms` : ''}`,
  ];
  if ((s.attempt ?? 1) > 1 || s.retry) {
    const before = (s.previous_attempts ?? []).map(
      (a) =>
        `attempt ${a.attempt} ${a.status}${a.rollback_reason ? ` (${a.rollback_reason})` : ''}` +
        `${a.bond ? `, bond ${a.bond.state}` : ''}`,
    );
    lines.push(
      `  attempt:            ${s.attempt ?? 1}${before.length ? ` — before: ${before.join('; ')}` : ''}` +
        `${s.retry ? ` — attempt ${s.retry.attempt} follows in ${s.retry.delay_ms} ms (checkpoint policy)` : ''}`,
    );
  }
  if (s.deadline) lines.push(`  deadline:           ${s.deadline}`);
  // A confirmed task of a type without an undo has nothing to say about its effects.
  if (s.undo && !(s.undo.state === 'not_declared' && s.status === 'confirmed'))
    lines.push(`  effects:            ${describeUndo(s.undo)}`);
  if (s.commit_signature) lines.push(`  committed:          ${s.commit_signature}`);
  if (s.rollback_reason) lines.push(`  rollback reason:    ${s.rollback_reason}`);
  if (s.forced_rollback)
    lines.push(`  rolled back by:     an operator at ${s.forced_rollback.at}: ${s.forced_rollback.reason}`);
  if (s.error) lines.push(`  error:              ${s.error}`);
  return lines.join('\n');
}

/** A refused submission, an unknown task or a bad argument is the user's to fix: exit 2, naming the field. */
export function rethrowAsUsageError(err: unknown): never {
  if (err instanceof AdmissionError || err instanceof TaskNotFoundError || err instanceof InvalidArgumentError) {
    throw new CliError(err.message, EXIT.usage, { field: err.field, code: err.code });
  }
  throw err;
}

export function registerTaskCommands(program: Command, clientFactory: ClientFactory, adminFactory: AdminFactory): void {
  const task = program.command('task').description('Submit tasks and follow them');

  withOutput(
    task
      .command('submit')
      .description("Submit a task; with --depends-on it may run speculatively on its parents' unconfirmed results")
      .requiredOption('-t, --type <type>', `task type (${taskTypeNames().join(', ')})`)
      .requiredOption('-p, --payload <json>', 'payload as JSON, e.g. \'{"value": 42}\' or \'{"fail": true}\'')
      .option(
        '-d, --depends-on <spec>',
        'a parent, repeatable (up to speculation.limits.max_parents): ID consumes its output and may start on it ' +
          'speculatively (data); ID:order runs after it executed, without its output; ID:confirmed consumes its ' +
          'output but waits until it is confirmed (never speculates on it)',
        (spec: string, specs: string[] = []) => [...specs, spec],
      )
      .option(
        '-a, --agent <name>',
        'the agent submitting: the task is signed with its key ($AGENC_KEYS_DIR/agents/<name>.json, default .data/keys), its stake bonds speculation',
        process.env.AGENC_AGENT ?? DEFAULT_AGENT,
      )
      .option('--key-file <path>', "sign with this key file (Solana CLI format, mode 600) instead of the agent's own")
      .option('--task-id <id>', 'choose the task id (default: a random one)')
      .option(
        '--deadline <time>',
        'confirm it by then or roll it back (claim_expired, bond released): an ISO time (2026-12-05T18:00:00Z) or a ' +
          'duration from now (90s, 5m, 2h); it speculates only while more than speculation.claim_buffer_ms is left',
      ),
  ).action(
    async (
      opts: OutputOptions & {
        type: string;
        payload: string;
        dependsOn?: string[];
        agent: string;
        keyFile?: string;
        taskId?: string;
        deadline?: string;
      },
    ) => {
      const request = {
        type: opts.type,
        payload: parseJsonArg('--payload', opts.payload),
        dependsOn: opts.dependsOn,
        agent: opts.agent,
        taskId: opts.taskId,
        keyFile: opts.keyFile,
        deadline: opts.deadline,
      };
      try {
        parseDependsOn(request.dependsOn, checkSubmitRequest(request).taskId);
        // Before connecting: a submitter without the agent's key is refused even when Temporal is down.
        agentSigningKey(request);
      } catch (err) {
        rethrowAsUsageError(err);
      }
      const result = await submitTask(await clientFactory(), request).catch(rethrowAsUsageError);
      emit(
        opts,
        result,
        () =>
          `submitted task ${result.task_id}${result.parents.length ? ` (depends on ${result.parents.map((p) => dependencySpec({ taskId: p.task_id, kind: p.kind })).join(', ')})` : ''}, ` +
          `signed by agent ${result.agent} (key ${result.agent_public_key})${result.deadline ? `, deadline ${result.deadline}` : ''}; follow it with: agenc task wait ${result.task_id}`,
      );
    },
  );

  withOutput(
    task
      .command('status')
      .description('Show a task: status, speculation status, depth, bond, proof')
      .argument('<taskId>'),
  ).action(async (taskId: string, opts: OutputOptions) => {
    const state = await getTaskState(await clientFactory(), taskId).catch(rethrowAsUsageError);
    emit(opts, state, () => describeState(state));
  });

  withOutput(
    task
      .command('wait')
      .description(
        'Wait until a task is final; exit 0 when confirmed, 1 when it failed, rolled back or the timeout passed',
      )
      .argument('<taskId>')
      .option('--timeout <seconds>', 'give up after this many seconds', '300'),
  ).action(async (taskId: string, opts: OutputOptions & { timeout: string }) => {
    const timeoutMs = parsePositiveNumber('--timeout', opts.timeout) * 1000;
    const client = await clientFactory();
    const { state, timedOut } = await waitForTask(client, taskId, {
      timeoutMs,
      onProgress: (s, elapsed) =>
        progress(
          `[${(elapsed / 1000).toFixed(1)}s] task ${taskId}: ${s.status}${s.waiting_for ? ` (waiting for ${s.waiting_for})` : ''}`,
        ),
      onQueryError: (err) =>
        progress(`task ${taskId} did not answer (${err.message}); is a worker running? still waiting…`),
    }).catch(rethrowAsUsageError);
    emit(opts, { ...state, timed_out: timedOut }, () =>
      timedOut
        ? `task ${taskId} is still ${state.status} after ${opts.timeout}s`
        : `task ${taskId} is ${state.status}${state.rollback_reason ? ` (${state.rollback_reason})` : ''}`,
    );
    if (timedOut || state.status !== 'confirmed') process.exitCode = EXIT.negative;
  });

  withOutput(
    task
      .command('list')
      .description('List tasks from Temporal visibility')
      .option('-s, --status <status>', `only tasks in this status (${TASK_STATUSES.join(', ')})`)
      .option('--root <taskId>', 'only the tree under this root task')
      .option('--parent <taskId>', 'only the tasks that depend on this one (any kind: data, order, confirmed)')
      .option('--limit <n>', 'at most this many rows', '100'),
  ).action(async (opts: OutputOptions & { status?: string; root?: string; parent?: string; limit: string }) => {
    const rows = await listTasks(await clientFactory(), {
      status: opts.status,
      root: opts.root,
      parent: opts.parent,
      limit: parsePositiveNumber('--limit', opts.limit),
    }).catch(rethrowAsUsageError);
    emit(opts, rows, () =>
      table(
        rows.map((r) => ({ ...r, parents: r.parent_task_ids.join(',') || null })),
        ['task_id', 'status', 'speculation_status', 'depth', 'parents', 'agent', 'started'],
      ),
    );
  });

  task
    .command('graph')
    .description("Show a task's ancestors and descendants with their status, depth, bond and each edge's kind")
    .argument('<taskId>')
    .addOption(
      new Option(
        '-o, --output <format>',
        'text: one line per task (* the task itself), then the edges with their kind; json: {task_id, nodes, ' +
          'edges, truncated, missing}; dot: a Graphviz digraph (data edges solid, order dashed, confirmed bold; ' +
          'filled by status), e.g. | dot -Tsvg > graph.svg',
      )
        .choices(['text', 'json', 'dot'])
        .default('text'),
    )
    .option(
      '--max-nodes <n>',
      'read at most this many tasks (the output says when the graph was cut)',
      String(DEFAULT_MAX_NODES),
    )
    .action(async (taskId: string, opts: { output: 'text' | 'json' | 'dot'; maxNodes: string }) => {
      const maxNodes = Number(opts.maxNodes);
      if (!Number.isInteger(maxNodes) || maxNodes < 1)
        throw new CliError(`--max-nodes must be a whole number of tasks >= 1, got ${JSON.stringify(opts.maxNodes)}`);
      const graph = await taskGraph(await clientFactory(), taskId, { maxNodes }).catch(rethrowAsUsageError);
      emit({ output: opts.output === 'json' ? 'json' : 'text' }, graph, () =>
        opts.output === 'dot' ? renderGraphDot(graph) : renderGraphText(graph),
      );
    });

  withOutput(
    task
      .command('retry')
      .description(
        'Run a failed or rolled-back task again as its next attempt (a new run of task-<id>, its own bond); ' +
          'refused for a confirmed task or one still running',
      )
      .argument('<taskId>')
      .option('--subtree', 'also restart its dependents rolled back by its failure (and theirs), on the new result'),
  ).action(async (taskId: string, opts: OutputOptions & { subtree?: boolean }) => {
    // An operator write (it bonds the agent's stake again): through the admin API and its token.
    const { body } = await adminRequest<NextAttempt>(adminFactory(), 'POST', '/admin/tasks/retry', {
      task_id: taskId,
      subtree: Boolean(opts.subtree),
    });
    const prev = body.previous;
    emit(
      opts,
      body,
      () =>
        `task ${taskId}: attempt ${body.attempt} started (attempt ${prev.attempt} ended ${prev.status}` +
        `${prev.rollback_reason ? `, ${prev.rollback_reason}` : ''}${prev.bond ? `, its bond ${prev.bond.state}` : ''})` +
        `${body.restart_dependents.length ? `; its rolled-back dependents restart with it: ${body.restart_dependents.join(', ')}` : ''}` +
        `; follow it with: agenc task wait ${taskId}`,
    );
  });

  withOutput(
    task
      .command('rollback')
      .description('Force a task and its whole subtree to roll back through their compensations')
      .argument('<taskId>')
      .option('--reason <text>', 'recorded with the rollback', 'manual rollback by operator'),
  ).action(async (taskId: string, opts: OutputOptions & { reason: string }) => {
    // An operator write: through the admin API and its token. The task answers what will happen: 404 no such
    // task (exit 2); 409 when it will not roll back (exit 1): already final, committing, or already rolling back.
    const { body } = await adminRequest<{ task_id: string; rollback_requested: true; reason: string; status: string }>(
      adminFactory(),
      'POST',
      '/admin/tasks/rollback',
      { task_id: taskId, reason: opts.reason },
    );
    emit(
      opts,
      body,
      () =>
        `task ${taskId} (${body.status}) is rolling back with its subtree: "${body.reason}"; follow it with: agenc task wait ${taskId}`,
    );
  });
}
