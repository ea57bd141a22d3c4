import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { resolveTestServer } from '../../../workers/temporal-dev-server';
import { temporal } from '@temporalio/proto';
(async () => {
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: resolveTestServer().path } } });
  try {
    const r = await env.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    console.log('list', Object.keys(r.customAttributes ?? {}));
  } catch (e) { console.log('list failed', String(e)); }
  try {
    if (process.env.ADD) await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes: { AgencRolloutName: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, AgencRolloutPhase: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT } });
    console.log('add ok');
  } catch (e) { console.log('add failed', String(e)); }
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'q', workflowsPath: require.resolve('./wf') });
  await worker.runUntil(async () => {
    try { console.log('result', await env.client.workflow.execute('probe', { taskQueue: 'q', workflowId: 'p1' })); } catch (e) { console.log('wf failed', String(e), (e as any).cause); }
    try { const d = await env.client.workflow.getHandle('p1').describe(); console.log('describe SA', JSON.stringify(d.typedSearchAttributes)); } catch (e) { console.log('describe failed', String(e)); }
    try { console.log('count', await env.client.workflow.count('WorkflowType="probe"')); } catch (e) { console.log('count failed', String(e)); }
  });
  await env.teardown();
})();
