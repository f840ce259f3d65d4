// The worker's /metrics server on its own: a scrape shows our metrics whatever state the SDK exporter is in,
// /healthz answers for container checks, anything else is a JSON 404. ops-metrics.test.ts scrapes it beside a worker.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startWorkerMetricsServer, type WorkerMetricsServer } from '../../apps/worker/metrics';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function serve(options: Parameters<typeof startWorkerMetricsServer>[0]): Promise<WorkerMetricsServer> {
  const server = await startWorkerMetricsServer({ port: 0, ...options });
  open.push(server);
  return server;
}

/** A stand-in for the SDK's exporter that answers every scrape with `status`. */
async function exporter(status: number, body: string): Promise<string> {
  const server = http.createServer((_req, res) => res.writeHead(status).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('our metrics, then the SDK exporter text appended', async () => {
  const metrics = createMetrics();
  metrics.leadsReceived.inc({ source: 'src-1' });
  const server = await serve({ metrics, temporalMetricsAddress: await exporter(200, 'temporal_up 1\n') });
  // Listening on every interface (no host given): the URL names the loopback address.
  expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  expect(text).toMatch(/^leadrouter_leads_received_total\{source="src-1"\} 1$/m);
  expect(text.endsWith('\ntemporal_up 1\n')).toBe(true);
});

test('an SDK exporter that is down or failing is a comment line, and our metrics still answer', async () => {
  const metrics = createMetrics();
  metrics.leadsReceived.inc({ source: 'src-1' });
  const failing = await serve({ metrics, temporalMetricsAddress: await exporter(503, 'busy') });
  const failed = await fetch(`${failing.url}/metrics`);
  expect(failed.status).toBe(200);
  const failedText = await failed.text();
  expect(failedText).toContain('# temporal sdk metrics unavailable: HTTP 503\n');
  expect(failedText).toMatch(/^leadrouter_leads_received_total\{source="src-1"\} 1$/m);

  const down = await serve({ metrics, temporalMetricsAddress: '127.0.0.1:9' });
  const downText = await (await fetch(`${down.url}/metrics`)).text();
  expect(downText).toMatch(/^# temporal sdk metrics unavailable: \S.*\n$/m);
  expect(downText).toMatch(/^leadrouter_leads_received_total\{source="src-1"\} 1$/m);

  const none = await serve({ metrics, host: '127.0.0.1' });
  const noneText = await (await fetch(`${none.url}/metrics`)).text();
  expect(noneText).not.toContain('temporal sdk');
  expect(noneText).toMatch(/^leadrouter_leads_received_total/m);
});

test('a scrape whose own registry fails answers 500, and says so in the log', async () => {
  const metrics = createMetrics();
  metrics.registry.metrics = () => Promise.reject(new Error('collector broke'));
  const lines: string[] = [];
  const logger = createLogger('test', 'error');
  logger.error = ((obj: unknown, msg: string) => void lines.push(msg)) as typeof logger.error;
  const server = await serve({ metrics, logger, host: '127.0.0.1' });
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(500);
  expect(await res.text()).toBe('metrics unavailable\n');
  expect(lines).toEqual(['metrics scrape failed']);
});

test('/healthz answers ok; other methods and paths are a JSON 404', async () => {
  const server = await serve({ metrics: createMetrics(), host: '127.0.0.1' });
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ ok: true });
  const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
  expect(post.status).toBe(404);
  expect(await post.json()).toEqual({ error: { code: 'not_found', message: 'no such route' } });
});

test('a port already taken fails the start', async () => {
  const first = await serve({ metrics: createMetrics(), host: '127.0.0.1' });
  await expect(
    startWorkerMetricsServer({ metrics: createMetrics(), port: first.port, host: '127.0.0.1' }),
  ).rejects.toThrow(/EADDRINUSE/);
});
