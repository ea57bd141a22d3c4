/**
 * `npm run demo`: a small task tree speculating, one branch rolling back, the rest confirming.
 * Uses the system at TEMPORAL_ADDRESS when one is running (`npm start`); otherwise brings up the
 * embedded default for the demo and stops it afterwards.
 *
 *   root (value 3)
 *   ├── a (value 4) ── a1 (value 5)
 *   ├── b (claims a wrong output: its proof fails, its bond is slashed) ── b1 (rolls back)
 *   └── c (value 7)
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { runOperatorAction } from '../client/commands/operator';
import { connectClient } from '../temporal/connection';
import { controlStatus } from '../temporal/control';
import { table } from '../client/output';
import { getTaskState, submitTask } from '../client/tasks';
import { FINAL_STATUSES, type TaskState } from '../shared/task-model';
import { createLogger } from '../workers/logger';
import { startEmbeddedSystem, type EmbeddedSystem } from './embedded-system';

const say = (m: string) => process.stdout.write(`${m}\n`);

async function runningSystem(): Promise<Client | undefined> {
  try {
    const client = await connectClient();
    await Promise.race([
      controlStatus(client),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3000)),
    ]);
    return client;
  } catch {
    return undefined;
  }
}

function row(name: string, s: TaskState) {
  return {
    task: name,
    id: s.task_id,
    status: s.status,
    speculation: s.speculation_status,
    depth: s.depth || '-',
    bond: s.bond ? `${s.bond.amount} ${s.bond.state}` : '-',
    reason: s.rollback_reason ?? '-',
  };
}

async function main(): Promise<void> {
  let embedded: EmbeddedSystem | undefined;
  let client = await runningSystem();
  if (!client) {
    say('No AgenC system is running at TEMPORAL_ADDRESS: starting the embedded default for this demo…');
    embedded = await startEmbeddedSystem(createLogger('agenc-demo', { level: 'warn' }), {
      httpPort: 0,
      sdkMetricsPort: 0,
    });
    client = embedded.worker.client;
  }
  // A fresh agent each run: the bad claim below slashes it, and a slashed agent cools down before it may speculate again.
  const agent = `demo-${randomBytes(2).toString('hex')}`;
  await runOperatorAction(client, {
    kind: 'stakeInit',
    input: { agent, amount: 100_000_000, requestId: `demo-${agent}` },
  });
  say(`Funded agent ${agent} with 0.1 SOL of stake.`);
  const submit = async (payload: unknown, dependsOn?: string) =>
    (await submitTask(client!, { type: 'compute', payload, dependsOn, agent })).task_id;

  const root = await submit({ value: 3 });
  const a = await submit({ value: 4 }, root);
  const a1 = await submit({ value: 5 }, a);
  const b = await submit({ value: 6, claimed_output: '42' }, root);
  const b1 = await submit({ value: 8 }, b);
  const c = await submit({ value: 7 }, root);
  const tree: [string, string][] = [
    ['root', root],
    ['a', a],
    ['a1', a1],
    ['b (bad claim)', b],
    ['b1', b1],
    ['c', c],
  ];
  say(`Submitted a tree of ${tree.length} tasks under root ${root}. Watching it (Ctrl-C leaves it running):\n`);

  let last = '';
  const started = Date.now();
  for (;;) {
    const states = await Promise.all(tree.map(([, id]) => getTaskState(client!, id)));
    const view = table(
      states.map((s, i) => row(tree[i]![0], s)),
      ['task', 'id', 'status', 'speculation', 'depth', 'bond', 'reason'],
    );
    if (view !== last) {
      say(`[${((Date.now() - started) / 1000).toFixed(1)}s]\n${view}\n`);
      last = view;
    }
    if (states.every((s) => FINAL_STATUSES.includes(s.status))) break;
    if (Date.now() - started > 180_000)
      throw new Error('the demo tree did not finish within 3 minutes; is a worker running?');
    await new Promise((r) => setTimeout(r, 500));
  }
  say(
    'Done: b claimed a wrong output, so its proof failed and its bond was slashed; b1, which speculated on it, rolled back with its bond released; the rest confirmed.',
  );
  say(`In the Web UI, query: AgencRootTaskId="${root}"`);
  if (embedded) await embedded.stop();
  else await client.connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exit(1);
});
