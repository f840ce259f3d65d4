// A loopback HTTP endpoint that records every request whole (method, URL, headers, raw body) and answers as
// the test says: a partner API or a source's postback endpoint whose exact requests a test can check.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as on the request line. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RecorderAnswer {
  status?: number;
  body?: unknown;
  /** Wait this long before answering (a partner slower than its timeout). */
  delayMs?: number;
}

export interface Recorder {
  url: string;
  requests: RecordedRequest[];
  /** The requests whose path starts with `path`. */
  to(path: string): RecordedRequest[];
  /** How to answer; `n` counts earlier requests to the same path (0 for the first). */
  answer: (req: RecordedRequest, n: number) => RecorderAnswer;
  stop(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const timers = new Set<NodeJS.Timeout>();
  const recorder: Recorder = {
    url: '',
    requests: [],
    to: (path) => recorder.requests.filter((r) => r.url.startsWith(path)),
    answer: () => ({}),
    async stop() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const path = rec.url.split('?')[0] ?? '/';
      const n = recorder.requests.filter((r) => r.url.split('?')[0] === path).length;
      recorder.requests.push(rec);
      const a = recorder.answer(rec, n);
      const send = () => {
        if (res.destroyed) return;
        res.statusCode = a.status ?? 200;
        res.setHeader('content-type', typeof a.body === 'string' ? 'text/plain' : 'application/json');
        res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? { ok: true }));
      };
      if (!a.delayMs) return send();
      const t = setTimeout(() => {
        timers.delete(t);
        send();
      }, a.delayMs);
      timers.add(t);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  recorder.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return recorder;
}
