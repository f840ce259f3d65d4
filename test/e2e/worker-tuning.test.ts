// Worker sizing from the environment: the `WORKER_*` settings reach the SDK's options, what is unset keeps the
// defaults, and a value out of range (below what the SDK accepts, not a number) is refused at start.
import { NativeConnection } from '@temporalio/worker';
import { createLeadWorker, tuningFromEnv } from '../../apps/worker/worker';
import { parseRoutingConfig, ConfigIndex } from '../../shared/config';
import { readEnv } from '../../shared/env';
import { activityDeps } from '../support/activity-deps';
import { testEnv, uniqueTaskQueue } from '../support/servers';
import { baseConfig } from '../support/stack';

const config = new ConfigIndex(parseRoutingConfig(baseConfig('http://127.0.0.1:9', 'http://127.0.0.1:9')));

test('the WORKER_* settings are the worker options; unset ones keep their defaults', async () => {
  const connection = await NativeConnection.connect({ address: testEnv().temporalAddress });
  try {
    const tuning = tuningFromEnv(
      readEnv({
        WORKER_MAX_CACHED_WORKFLOWS: '300',
        WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '24',
        WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: '50',
        WORKER_WORKFLOW_THREADS: '2',
      }),
    );
    expect(tuning).toEqual({
      maxCachedWorkflows: 300,
      maxConcurrentWorkflowTaskExecutions: 24,
      maxConcurrentLocalActivityExecutions: 50,
      workflowThreadPoolSize: 2,
    });
    const tuned = await createLeadWorker({
      connection,
      namespace: testEnv().temporalNamespace,
      taskQueue: uniqueTaskQueue('tuning'),
      deps: activityDeps(config),
      tuning,
    });
    expect(tuned.options).toMatchObject({ maxCachedWorkflows: 300, workflowThreadPoolSize: 2 });
    expect(tuned.options.tuner).toMatchObject({
      workflowTaskSlotSupplier: { numSlots: 24 },
      activityTaskSlotSupplier: { numSlots: 200 },
      localActivityTaskSlotSupplier: { numSlots: 50 },
    });
    await tuned.runUntil(Promise.resolve()); // a worker holds its connection until it has run and stopped

    const plain = await createLeadWorker({
      connection,
      namespace: testEnv().temporalNamespace,
      taskQueue: uniqueTaskQueue('tuning'),
      deps: activityDeps(config),
      tuning: tuningFromEnv(readEnv({})),
    });
    expect(plain.options.workflowThreadPoolSize).toBe(1);
    expect(plain.options.tuner).toMatchObject({
      workflowTaskSlotSupplier: { numSlots: 40 },
      activityTaskSlotSupplier: { numSlots: 200 },
    });
    await plain.runUntil(Promise.resolve());
  } finally {
    await connection.close();
  }
});

test.each([
  ['WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', '1'],
  ['WORKER_MAX_CACHED_WORKFLOWS', '-1'],
  ['WORKER_MAX_CONCURRENT_ACTIVITIES', 'many'],
  ['WORKER_WORKFLOW_THREADS', '0'],
])('%s=%s is refused at start, naming the setting', (name, value) => {
  expect(() => readEnv({ [name]: value })).toThrow(new RegExp(`invalid environment: ${name}`));
});
