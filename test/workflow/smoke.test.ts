// Smoke test of the time-skipping test server: a workflow sleeping one day finishes at once.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { smokeSleepOneDay } from '../support/smoke-workflows';
import { createTimeSkippingEnv, uniqueTaskQueue } from '../support/servers';

describe('smoke: time-skipping server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('skips a one-day sleep', async () => {
    const taskQueue = uniqueTaskQueue('smoke');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../support/smoke-workflows'),
    });
    const workflowTimeElapsed = await worker.runUntil(
      env.client.workflow.execute(smokeSleepOneDay, { taskQueue, workflowId: `smoke-${taskQueue}` }),
    );
    // A day of workflow time inside the test's timeout: the server skipped it (no wall-clock bound needed).
    expect(workflowTimeElapsed).toBeGreaterThanOrEqual(24 * 60 * 60 * 1000);
  });
});
