// `leadrouter` argument handling: usage errors exit 2 with a message before anything is sent, --help exits 0;
// and how the CLI reports answers that are not the gateway's JSON (a proxy's HTML page, a validation error).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from '../support/cli';

/** The gateway URL points at a closed port, so any request would fail with exit 1. */
const run = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { LEADROUTER_URL: 'http://127.0.0.1:9', LEADROUTER_ADMIN_KEY: 'admin-key-123456', ...env });

test('--help prints the usage on stdout and exits 0; no command prints it on stderr and exits 2', async () => {
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^usage: leadrouter <command> \[options\]/);
  expect(help.stderr).toBe('');
  const short = await run(['lead', '-h']);
  expect(short).toEqual(help);
  const none = await run([]);
  expect(none.code).toBe(2);
  expect(none.stdout).toBe('');
  expect(none.stderr).toMatch(/^usage: leadrouter/);
});

test('an unknown option or a missing option value is a usage error', async () => {
  const unknown = await run(['leads', '--colour']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/Unknown option '--colour'[\s\S]*usage: leadrouter/);
  const noValue = await run(['leads', '--status']);
  expect(noValue.code).toBe(2);
  expect(noValue.stderr).toMatch(/--status/);
});

test.each([
  [['lead'], 'usage: leadrouter lead <leadId>'],
  [['postbacks', '--since', 'yesterday'], '--since takes a duration like 15m, 1h, 2d'],
  [['report', '--chart', 'acme'], 'report --chart needs --out <file.svg>'],
  [['report', '--by', 'country'], 'report --by takes partner or source'],
  [['replay', '--lead', 'lead-1'], 'replay --lead needs --status (the notification to send again)'],
  [['config'], 'usage: leadrouter config check [file]'],
  [['config', 'lint'], 'usage: leadrouter config check [file]'],
  [['temporal'], 'usage: leadrouter temporal setup [--wait seconds]'],
  [['temporal', 'setup', '--wait', 'soon'], '--wait takes a number of seconds'],
  [['temporal', 'setup', '--wait=-1'], '--wait takes a number of seconds'],
  [['suppress'], 'usage: leadrouter suppress'],
])('%j exits 2 before any request: %s', async (args, message) => {
  const r = await run(args);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(`leadrouter: ${message}`);
  expect(r.stderr).not.toMatch(/cannot reach/);
});

test('without an admin key nothing is sent (exit 2); an unreachable gateway is exit 1', async () => {
  for (const args of [['leads'], ['postbacks'], ['report'], ['replay'], ['suppress', '--email', 'a@b.co']]) {
    const noKey = await run(args, { LEADROUTER_ADMIN_KEY: '' });
    expect(noKey).toMatchObject({ code: 2, stdout: '' });
    expect(noKey.stderr).toContain('no admin key: set LEADROUTER_ADMIN_KEY or pass --admin-key');
    const down = await run(args);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the gateway at http://127.0.0.1:9');
  }
});

describe('answers that are not the gateway JSON', () => {
  let server: http.Server;
  let url: string;
  const answers: Record<string, { status: number; type: string; body: string }> = {
    '/admin/leads': { status: 502, type: 'text/html', body: '<html>Bad Gateway</html>' },
    '/reports/partners': {
      status: 400,
      type: 'application/json',
      body: JSON.stringify({
        error: {
          code: 'invalid_request',
          message: 'bad query',
          issues: [{ path: 'from', message: 'not a date' }],
        },
      }),
    },
    '/reports/sources': { status: 500, type: 'application/json', body: '{}' },
  };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const answer = answers[new URL(req.url ?? '/', 'http://x').pathname];
      res.writeHead(answer?.status ?? 404, { 'content-type': answer?.type ?? 'text/plain' });
      res.end(answer?.body ?? 'nothing here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('an HTML error page (a proxy in front of the gateway) is quoted, not parsed', async () => {
    const r = await run(['leads', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('leadrouter: GET /admin/leads: HTTP 502, not JSON: <html>Bad Gateway</html>\n');
  });

  test('a validation error lists its issues with their paths; an error without a body says the status', async () => {
    const bad = await run(['report', '--url', url, '--from', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'leadrouter: GET /reports/partners: HTTP 400 invalid_request: bad query\n  from: not a date\n',
    );
    const bare = await run(['report', '--by', 'source', '--url', url]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toBe('leadrouter: GET /reports/sources: HTTP 500 : {}\n');
  });
});
