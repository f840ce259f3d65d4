// The `leadrouter` command against a running stack: a known lead's journey as a timeline and `config check`
// through bin/leadrouter.js as `npx leadrouter` runs it; search, replay with progress and `temporal setup` through the same main() in-process.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Notification } from '../../shared/models';
import { startTemporalDevServer } from '../../scripts/provision/servers';
import { useStack } from '../support/e2e';
import {
  ADMIN_KEY,
  adminCli,
  baseConfig,
  decidedLead,
  eventually,
  getJson,
  SHORT_NOTIFY,
} from '../support/stack';

const BIN = path.join(__dirname, '..', '..', 'bin', 'leadrouter.js');
const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
let tmp: string;

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: {
          PATH: process.env.PATH ?? '',
          LEADROUTER_URL: stack.baseUrl,
          LEADROUTER_ADMIN_KEY: ADMIN_KEY,
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The same CLI in this process (no child start-up), for the many cases where the process boundary adds nothing. */
const run = (args: string[], env: Record<string, string> = {}) => adminCli(stack, args, env);

const { stack, source } = useStack({
  config: ({ partner, source }) => baseConfig(partner.url, source.url, SHORT_NOTIFY),
});

// A test that makes the source fail (to exhaust notifications) heals it even when it fails itself.
afterEach(() => source.failNext(0));

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(process.env.LEADROUTER_TEST_TMP ?? os.tmpdir(), 'cli-'));
});

const acceptedLead = (clickId: string) =>
  decidedLead(stack, clickId, { status: 'approved', payout: '20.50' }, 'accepted');

test('`leadrouter lead <id>` prints a known lead as a timeline', async () => {
  const leadId = await acceptedLead('clk-cli');
  await eventually(
    async () => (source.hits.some((h) => h.query.clickid === 'clk-cli') ? true : undefined),
    30_000,
    'notification',
  );
  await eventually(
    async () => {
      const r = await getJson(`${stack.baseUrl}/leads/${leadId}`, SOURCE_KEY);
      return (r.body.notifications as unknown[]).length ? true : undefined;
    },
    30_000,
    'notification recorded',
  );

  const { code, stdout, stderr } = await cli(['lead', leadId]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  const lines = stdout.split('\n');
  expect(lines[0]).toBe(`Lead ${leadId}  (workflow lead-${leadId})`);
  expect(lines[1]).toContain(
    'source src-1 · click clk-cli · partner acme · status accepted · payout 20.50 USD',
  );
  const events = lines.filter((l) => /^\s+\d{4}-\d\d-\d\dT/.test(l));
  const kinds = events.map((l) => l.trim().split(/\s+/)[2]);
  expect(kinds).toEqual(['STATUS', 'DELIVERY', 'STATUS', 'POSTBACK', 'STATUS', 'NOTIFY']);
  expect(events[1]).toMatch(/delivery to acme #1: pending HTTP 200 in \d+ ms/);
  expect(events[3]).toMatch(
    /postback from acme: "approved" -> accepted payout 20\.50 USD, applied, answered HTTP 200 in \d+ ms/,
  );
  expect(events[5]).toMatch(/notification "accepted" to source #1: delivered HTTP 200 in \d+ ms/);
  // Timestamps ascending, offsets from the lead's arrival.
  const stamps = events.map((l) => l.trim().split(/\s+/)[0] as string);
  expect([...stamps].sort()).toEqual(stamps);
  expect(events[0]).toMatch(/\+0\.000s/);

  const json = await run(['lead', leadId, '--json']);
  expect(json.code).toBe(0);
  expect((JSON.parse(json.stdout) as { lead: { leadId: string } }).lead.leadId).toBe(leadId);
});

test('`leadrouter lead` errors: unknown lead, no key, gateway down', async () => {
  const unknown = await run(['lead', 'no-such-lead-1']);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/HTTP 404 unknown_lead/);
  const noKey = await run(['lead', 'no-such-lead-1'], { LEADROUTER_ADMIN_KEY: '' });
  expect(noKey.code).toBe(2);
  expect(noKey.stderr).toMatch(/LEADROUTER_ADMIN_KEY/);
  const wrongKey = await run(['lead', 'no-such-lead-1', '--admin-key', 'not-the-admin-key-123']);
  expect(wrongKey.code).toBe(1);
  expect(wrongKey.stderr).toMatch(/HTTP 401 bad_credentials/);
  const down = await run(['lead', 'no-such-lead-1', '--url', 'http://127.0.0.1:9']);
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(/cannot reach the gateway/);
});

test('`leadrouter replay` replays exhausted notifications in bulk with progress', async () => {
  source.failNext(1_000_000);
  const ids = await Promise.all([acceptedLead('clk-bulk-1'), acceptedLead('clk-bulk-2')]);
  for (const id of ids) {
    await eventually(
      async () => {
        const r = await getJson(`${stack.baseUrl}/leads/${id}`, SOURCE_KEY);
        return (r.body.notifications as { exhausted?: boolean }[]).some((n) => n.exhausted)
          ? true
          : undefined;
      },
      40_000,
      'exhausted',
    );
  }
  const dry = await run(['replay', '--source', 'src-1', '--status', 'accepted', '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/^2 exhausted notification\(s\) match/);
  // Counted per source in the performance report, as the notifications log has them.
  const sources = await getJson(`${stack.baseUrl}/reports/sources`, { 'x-api-key': ADMIN_KEY });
  const src1 = (sources.body.rows as { group: string; notificationsExhausted?: number }[]).find(
    (r) => r.group === 'src-1',
  );
  expect(src1?.notificationsExhausted).toBe(
    await Notification.countDocuments({ exhausted: true, sourceId: 'src-1' }),
  );
  expect(src1?.notificationsExhausted).toBeGreaterThanOrEqual(2);
  for (const id of ids) expect(dry.stdout).toContain(`${id}  accepted`);

  source.failNext(0);
  const replayed = await run(['replay', '--source', 'src-1', '--status', 'accepted']);
  expect(replayed.code).toBe(0);
  expect(replayed.stdout).toContain('replayed 2/2');
  expect(replayed.stderr).toContain('replaying [##############################] 2/2 100%');
  for (const id of ids) {
    await eventually(
      async () =>
        source.hits.some((h) => h.query.event === `${id}.accepted` && h.answered === 200) ? true : undefined,
      30_000,
      'replayed',
    );
  }
});

test('`leadrouter leads` lists leads from the admin search', async () => {
  const { code, stdout, stderr } = await run(['leads', '--status', 'accepted', '--partner', 'acme', '--all']);
  expect(code).toBe(0);
  const rows = stdout.trim().split('\n');
  expect(rows.length).toBeGreaterThanOrEqual(3);
  for (const row of rows) expect(row).toMatch(/ accepted +src-1 +acme +20\.50 USD$/);
  expect(stderr).toContain(`${rows.length} lead(s)`);
});

test('`leadrouter config check` accepts a good file, warns of unknown macros and prints errors with paths for a bad one', async () => {
  const good = path.join(tmp, 'good.json');
  fs.writeFileSync(good, JSON.stringify(baseConfig('http://127.0.0.1:4010', 'http://127.0.0.1:4020')));
  const ok = await run(['config', 'check', good]);
  expect(ok).toEqual({
    code: 0,
    stdout: `${good}: ok (1 partner(s): acme; 1 source(s): src-1)\n`,
    stderr: '',
  });

  const bad = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(
    bad,
    [
      'partners:',
      '  - id: acme',
      '    delivery: { url: "ftp://nope", timeoutMs: 5 }',
      '    postback: { token: "s3cret-token", statusMap: { approved: sold } }',
      'sources:',
      '  - id: src-1',
      '    apiKey: short',
      '',
    ].join('\n'),
  );
  const failed = await cli(['config', 'check', bad]);
  expect(failed.code).toBe(1);
  expect(failed.stdout).toBe('');
  expect(failed.stderr).toContain(`${bad}: 4 problem(s)`);
  expect(failed.stderr).toMatch(/partners\[0\]\.delivery\.url: /);
  expect(failed.stderr).toMatch(/partners\[0\]\.delivery\.timeoutMs: /);
  expect(failed.stderr).toMatch(/partners\[0\]\.postback\.statusMap\.approved: /);
  expect(failed.stderr).toMatch(/sources\[0\]\.apiKey: api keys shorter than 8 characters/);

  // A typo in a source's postback URL is not an error (the URL is sent as written) but is told.
  const typo = path.join(tmp, 'typo.json');
  const typoConfig = baseConfig('http://127.0.0.1:4010', 'http://127.0.0.1:4020', {
    source: { postbackUrl: 'http://127.0.0.1:4020/pb?c={click_id}&s={status}&p={Payout}' },
  });
  fs.writeFileSync(typo, JSON.stringify(typoConfig));
  const warned = await run(['config', 'check', typo]);
  expect(warned.code).toBe(0);
  expect(warned.stdout).toBe(`${typo}: ok (1 partner(s): acme; 1 source(s): src-1)\n`);
  expect(warned.stderr.match(/warning: /g)).toHaveLength(2);
  expect(warned.stderr).toContain('sources[0].postbackUrl (src-1): {click_id} is no macro');
  expect(warned.stderr).toContain('{Payout} is no macro');

  const missing = await run(['config', 'check', path.join(tmp, 'nope.yaml')]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/cannot read file/);
  const usage = await run(['frobnicate']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toMatch(/unknown command "frobnicate"/);
});

test('`leadrouter temporal setup` registers the search attributes once, then finds them registered', async () => {
  // A private dev server started without our search attributes, as a fresh production namespace is.
  const server = await startTemporalDevServer({
    dbFile: path.join(tmp, 'bare-temporal', 'temporal.db'),
    searchAttributes: {},
  });
  try {
    const env = { TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace };
    const first = await run(['temporal', 'setup', '--wait', '30'], env);
    expect(first.code).toBe(0);
    for (const name of ['LeadStatus', 'PartnerId', 'SourceId', 'WinningBidCurrency'])
      expect(first.stdout).toContain(`${name} (Keyword): added`);
    expect(first.stdout).toContain('WinningBidCents (Int): added');
    const connection = await Connection.connect({ address: server.address });
    try {
      const listed = await connection.operatorService.listSearchAttributes({ namespace: server.namespace });
      expect(Object.keys(listed.customAttributes ?? {})).toEqual(
        expect.arrayContaining([
          'LeadStatus',
          'PartnerId',
          'SourceId',
          'WinningBidCents',
          'WinningBidCurrency',
        ]),
      );
    } finally {
      await connection.close();
    }
    const second = await run(['temporal', 'setup'], env);
    expect(second.code).toBe(0);
    for (const name of ['LeadStatus', 'PartnerId', 'SourceId', 'WinningBidCurrency'])
      expect(second.stdout).toContain(`${name} (Keyword): already registered`);
    expect(second.stdout).toContain('WinningBidCents (Int): already registered');
  } finally {
    await server.stop();
  }
  const down = await run(['temporal', 'setup'], { TEMPORAL_ADDRESS: '127.0.0.1:9' });
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(/Temporal at 127\.0\.0\.1:9 is unreachable/);
});
