// The response reader: bytes decoded once (a character split across chunks survives) and reading stops at the cap.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_BODY_BYTES, undiciHttp } from '../../activities/http';

let server: http.Server;
let base: string;
let endlessClosed: Promise<number>;
let resolveEndless: (bytes: number) => void;

beforeAll(async () => {
  endlessClosed = new Promise((r) => (resolveEndless = r));
  server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    if (req.url === '/split') {
      // "é" is C3 A9: the two bytes leave in separate writes, so they reach the client in separate chunks.
      res.write(Buffer.from('caf\xc3', 'latin1'));
      setTimeout(() => res.end(Buffer.from([0xa9])), 50);
      return;
    }
    if (req.url === '/endless') {
      let sent = 0;
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const timer = setInterval(() => {
        res.write(chunk);
        sent += chunk.length;
      }, 2);
      res.on('close', () => {
        clearInterval(timer);
        resolveEndless(sent);
      });
      return;
    }
    if (req.url === '/cut') {
      // 'é' straddles the cap: the reader ends on half a character, which decodes to U+FFFD.
      res.end(Buffer.concat([Buffer.alloc(MAX_BODY_BYTES - 1, 'a'), Buffer.from('é'), Buffer.from('tail')]));
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('a multi-byte character split across two chunks is decoded whole', async () => {
  const res = await undiciHttp({ method: 'GET', url: `${base}/split`, timeoutMs: 5000 });
  expect(res).toEqual({ status: 200, body: 'café' });
});

test('an endless answer is read up to the cap, then the connection is dropped', async () => {
  const res = await undiciHttp({ method: 'GET', url: `${base}/endless`, timeoutMs: 20_000 });
  expect(res.status).toBe(200);
  expect(res.body).toBe('x'.repeat(MAX_BODY_BYTES));
  // The server sees the reader hang up: it was not left streaming until the timeout.
  await expect(endlessClosed).resolves.toBeGreaterThanOrEqual(MAX_BODY_BYTES);
});

test('the cap is in bytes, and a character it cuts becomes U+FFFD', async () => {
  const res = await undiciHttp({ method: 'GET', url: `${base}/cut`, timeoutMs: 5000 });
  expect(Buffer.byteLength(res.body.replace('\ufffd', ''))).toBe(MAX_BODY_BYTES - 1);
  expect(res.body.endsWith('a\ufffd')).toBe(true);
});
