// Prometheus metrics after known traffic, on the gateway's /metrics and on the worker's own /metrics server,
// which also re-serves the Temporal SDK's runtime metrics.
import { DefaultLogger } from '@temporalio/worker';
import {
  installTemporalRuntimeMetrics,
  startWorkerMetricsServer,
  type WorkerMetricsServer,
} from '../../apps/worker/metrics';
import { freePort } from '../../scripts/util';
import { useStack } from '../support/e2e';
import { approveAfterWrongToken, baseConfig, eventually, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
let workerMetrics: WorkerMetricsServer;
let sdkAddress: string;
/** False if something created this process's Temporal runtime before us (then the SDK test fails). */
let sdkInstalled = false;

beforeAll(async () => {
  sdkAddress = `127.0.0.1:${await freePort()}`;
  try {
    // Before any connection of this process (the fixture's beforeAll comes next): the runtime is fixed once created.
    installTemporalRuntimeMetrics(sdkAddress, { logger: new DefaultLogger('ERROR') });
    sdkInstalled = true;
  } catch {
    sdkInstalled = false;
  }
});

const { stack } = useStack({
  config: ({ partner, source }) => baseConfig(partner.url, source.url),
  ready: async ({ stack }) => {
    workerMetrics = await startWorkerMetricsServer({
      metrics: stack.metrics,
      port: 0,
      host: '127.0.0.1',
      temporalMetricsAddress: sdkAddress,
    });
  },
});

afterAll(async () => {
  await workerMetrics?.close();
});

/** The value of one sample whose labels include `labels`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(url: string): Promise<{ type: string; text: string }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return { type: res.headers.get('content-type') ?? '', text: await res.text() };
}

test('after a lead accepted by postback and one bad postback, metrics carry the right labels', async () => {
  const created = await postJson(`${stack.baseUrl}/leads`, { clickId: 'clk-metrics' }, SOURCE_KEY);
  const leadId = created.body.leadId as string;
  await leadReaches(stack, leadId, 'pending', SOURCE_KEY, 30_000);
  await approveAfterWrongToken(stack, leadId, '9.99');
  await leadReaches(stack, leadId, 'accepted', SOURCE_KEY, 30_000);

  const gateway = await scrape(stack.baseUrl);
  expect(gateway.type).toMatch(/^text\/plain/);
  expect(gateway.text).toContain('# TYPE leadrouter_postbacks_total counter');
  expect(sample(gateway.text, 'leadrouter_postbacks_total', { partner: 'acme', outcome: 'applied' })).toBe(1);
  expect(
    sample(gateway.text, 'leadrouter_postbacks_total', { partner: 'acme', outcome: 'bad_credentials' }),
  ).toBe(1);
  expect(sample(gateway.text, 'leadrouter_leads_received_total', { source: 'src-1' })).toBe(1);
  expect(gateway.text).toContain('# TYPE leadrouter_postback_handling_seconds histogram');
  expect(sample(gateway.text, 'leadrouter_postback_handling_seconds_count', { outcome: 'applied' })).toBe(1);
  expect(sample(gateway.text, 'leadrouter_postback_handling_seconds_count', { outcome: 'rejected' })).toBe(1);
  expect(
    sample(gateway.text, 'leadrouter_postback_handling_seconds_bucket', { outcome: 'applied', le: '+Inf' }),
  ).toBe(1);

  // Deliveries, final statuses and notifications are counted where they happen: in the worker.
  const worker = await eventually(
    async () => {
      const w = await scrape(workerMetrics.url);
      return sample(w.text, 'leadrouter_notifications_total', { source: 'src-1', result: 'delivered' }) === 1
        ? w
        : undefined;
    },
    30_000,
    'notification metric',
  );
  expect(sample(worker.text, 'leadrouter_deliveries_total', { partner: 'acme', outcome: 'pending' })).toBe(1);
  expect(sample(worker.text, 'leadrouter_delivery_seconds_count', { partner: 'acme' })).toBe(1);
  expect(sample(worker.text, 'leadrouter_leads_final_total', { status: 'accepted', partner: 'acme' })).toBe(
    1,
  );
  // Time from the delivery to the partner's deciding postback, per partner: one accepted, within the test's span.
  expect(
    sample(worker.text, 'leadrouter_time_to_postback_seconds_count', { partner: 'acme', status: 'accepted' }),
  ).toBe(1);
  expect(
    sample(worker.text, 'leadrouter_time_to_postback_seconds_bucket', {
      partner: 'acme',
      status: 'accepted',
      le: '3600',
    }),
  ).toBe(1);
  expect(sample(worker.text, 'leadrouter_process_cpu_seconds_total')).toEqual(expect.any(Number));
});

test("the worker's /metrics includes the Temporal SDK's runtime metrics", async () => {
  expect(sdkInstalled).toBe(true);
  const worker = await eventually(
    async () => {
      const w = await scrape(workerMetrics.url);
      return /^temporal_\w+/m.test(w.text) ? w : undefined;
    },
    30_000,
    'temporal sdk metrics',
  );
  expect(worker.text).toMatch(new RegExp(`^temporal_\\w+\\{[^}]*task_queue="${stack.taskQueue}"`, 'm'));
  expect(worker.text).toMatch(/^temporal_worker_task_slots_available\{/m);
});

test('the worker metrics server answers 404 as JSON for other paths', async () => {
  const res = await fetch(`${workerMetrics.url}/nope`);
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no such route' } });
});
