// What the `leadrouter` command prints, from given answers: the timeline, the progress line, the report and
// postback tables, the suppression list read from flags and files. ops-cli.test.ts runs the same code against a stack.
import { Writable } from 'node:stream';
import { CliError } from '../../apps/cli/api';
import { progress } from '../../apps/cli/progress';
import { formatPerformance, formatPostbacks, formatRefusals } from '../../apps/cli/report';
import { formatSuppression, suppressionBody } from '../../apps/cli/suppress';
import { formatJourney } from '../../apps/cli/timeline';
import type { Journey, PerformanceReport } from '../../shared/http';
import { auctionOf } from '../support/auction-figures';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
    { isTTY },
  );
  return { stream, chunks };
}

const lead = (over: Partial<Journey['lead']> = {}): Journey['lead'] =>
  ({
    leadId: 'lead-1',
    workflowId: 'lead-lead-1',
    sourceId: 'src-1',
    status: 'accepted',
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:02.500Z',
    history: [],
    deliveries: [],
    notifications: [],
    ...over,
  }) as Journey['lead'];

describe('formatJourney', () => {
  test('facts present only when the lead has them; offsets from arrival; failures painted red on a TTY', () => {
    const journey: Journey = {
      lead: lead({
        clickId: 'clk-9',
        partnerId: 'acme',
        payout: '12.00',
        currency: 'EUR',
        notifications: [
          { status: 'accepted', exhausted: true },
          { status: 'accepted', exhausted: true },
          { status: 'returned', exhausted: false },
        ] as Journey['lead']['notifications'],
      }),
      postbacks: [],
      timeline: [
        { at: '2026-11-01T10:00:00.000Z', kind: 'status', summary: 'received' },
        { at: '2026-11-01T10:00:01.250Z', kind: 'delivery', summary: 'to acme', httpStatus: 503 },
        { at: '2026-11-01T10:00:02.000Z', kind: 'notification', summary: 'to source', ok: false },
        { at: '2026-11-01T10:00:02.500Z', kind: 'postback', summary: 'approved', httpStatus: 200, ok: true },
      ],
    };
    const plain = formatJourney(journey).split('\n');
    expect(plain[0]).toBe('Lead lead-1  (workflow lead-lead-1)');
    expect(plain[1]).toBe('  source src-1 · click clk-9 · partner acme · status accepted · payout 12.00 EUR');
    expect(plain[2]).toBe('  created 2026-11-01T10:00:00.000Z  updated 2026-11-01T10:00:02.500Z');
    expect(plain[4]).toBe('  2026-11-01T10:00:00.000Z      +0.000s  STATUS    received');
    expect(plain[5]).toBe('  2026-11-01T10:00:01.250Z      +1.250s  DELIVERY  to acme');
    expect(plain[7]).toBe('  2026-11-01T10:00:02.500Z      +2.500s  POSTBACK  approved');
    // An exhausted notification is named once, with the command that replays it.
    expect(plain.at(-1)).toBe(
      '  exhausted notifications: accepted (leadrouter replay --lead lead-1 --status <status>)',
    );
    expect(formatJourney(journey)).not.toContain('\x1b[');

    const color = formatJourney(journey, true).split('\n');
    expect(color[1]).toContain('status \x1b[1maccepted\x1b[0m');
    expect(color[4]).toContain('\x1b[36mSTATUS  \x1b[0m'); // ok
    expect(color[5]).toContain('\x1b[31mDELIVERY\x1b[0m'); // HTTP 503
    expect(color[6]).toContain('\x1b[31mNOTIFY  \x1b[0m'); // ok: false
    expect(color[7]).toContain('\x1b[36mPOSTBACK\x1b[0m'); // HTTP 200
  });

  test('a lead with nothing yet: no optional facts, no events, no exhausted line', () => {
    const text = formatJourney({ lead: lead({ status: 'received' }), postbacks: [], timeline: [] });
    expect(text.split('\n')).toEqual([
      'Lead lead-1  (workflow lead-lead-1)',
      '  source src-1 · status received',
      '  created 2026-11-01T10:00:00.000Z  updated 2026-11-01T10:00:02.500Z',
      '',
      '  (no events yet)',
    ]);
  });

  test('a payout without a currency prints no trailing space', () => {
    const text = formatJourney({ lead: lead({ payout: '3.00' }), postbacks: [], timeline: [] });
    expect(text.split('\n')[1]).toBe('  source src-1 · status accepted · payout 3.00');
  });
});

describe('progress', () => {
  test('off a terminal: a line every 10% or more, the last one, and every note', () => {
    const { stream, chunks } = sink(false);
    const bar = progress(stream, 40, 'replaying');
    for (let i = 0; i < 40; i++) bar.tick(i === 21 ? 'failed: lead-22' : undefined);
    bar.done();
    const pcts = chunks.map((c) => /(\d+)%/.exec(c)?.[1]);
    // 1/40 is 2%: the first line waits for 10%. The note at 55% moves the next line to 65%.
    expect(pcts).toEqual(['10', '20', '30', '40', '50', '55', '65', '75', '85', '95', '100']);
    expect(chunks.find((c) => c.includes('failed: lead-22'))).toBe(
      `replaying [#################.............] 22/40 55% failed: lead-22\n`,
    );
    expect(chunks.at(-1)).toBe(`replaying [##############################] 40/40 100%\n`);
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
  });

  test('on a terminal: the bar redrawn in place on every tick, a newline when done', () => {
    const { stream, chunks } = sink(true);
    const bar = progress(stream, 2, 'replaying');
    bar.tick();
    bar.tick('failed: lead-2');
    bar.done();
    expect(chunks).toEqual([
      `\rreplaying [###############...............] 1/2 50%\x1b[K`,
      `\rreplaying [##############################] 2/2 100% failed: lead-2\x1b[K`,
      '\n',
    ]);
  });

  test('nothing to do counts as done', () => {
    const { stream, chunks } = sink(false);
    const bar = progress(stream, 0, 'replaying');
    bar.tick();
    expect(chunks).toEqual([`replaying [##############################] 1/0 100%\n`]);
  });
});

describe('report tables', () => {
  const row = {
    group: 'acme',
    delivered: 10,
    offered: 12,
    accepted: 4,
    rejected: 3,
    expired: 1,
    returned: 1,
    failed: 2,
    duplicates: 0,
    decisions: 7,
    decisionP50Ms: 1500,
    decisionP95Ms: null,
    refusedByCode: { bad_credentials: 2, unknown_lead: 3 },
    acceptanceRate: 0.5,
    returnRate: 0.25,
    revenueByCurrency: { USD: '40.00', EUR: '5.00' },
    eplByCurrency: {},
  };

  test('partner performance: counts right-aligned, refusals summed, missing figures as "-"', () => {
    const report: PerformanceReport = {
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-11-02T00:00:00.000Z',
      groupBy: 'partner',
      rows: [row],
    };
    const lines = formatPerformance(report).split('\n');
    expect(lines[0]).toBe('partner performance 2026-11-01T00:00:00.000Z .. 2026-11-02T00:00:00.000Z');
    const header = lines[1]?.split(/\s+/);
    const cells = lines[2]?.split(/\s{2,}/);
    expect(header).toHaveLength(17);
    expect(cells).toEqual([
      'acme',
      '12',
      '10',
      '4',
      '3',
      '1',
      '1',
      '2',
      '0',
      '5', // refused: 2 + 3
      '-', // exhausted: source rows only
      '1.5s',
      '-', // no p95
      '50.0%',
      '25.0%',
      '40.00 USD, 5.00 EUR',
      '-', // no EPL
    ]);
    // Right-aligned: the count ends under its header.
    expect((lines[2] ?? '').indexOf('10') + '10'.length).toBe(
      (lines[1] ?? '').indexOf('delivered') + 'delivered'.length,
    );
  });

  test('partners pinged get an auctions table: win rate, refused posts, bids per currency; others none', () => {
    const auction = auctionOf(
      { pings: 9, bids: 6, wins: 2, winRate: 0.3333, postsRefused: 1 },
      { EUR: ['6.00', '6.00'], USD: ['30.00', '6.00'] },
    );
    const report: PerformanceReport = {
      from: 'a',
      to: 'b',
      groupBy: 'partner',
      rows: [
        { ...row, auction },
        { ...row, group: 'cola' },
      ],
    };
    const lines = formatPerformance(report).split('\n');
    const auctions = lines.slice(lines.indexOf('auctions') + 1);
    expect(auctions[0]?.split(/\s+/)).toEqual([
      'partner',
      'pings',
      'bids',
      'wins',
      'win%',
      'refused-posts',
      'bid-total',
      'bid-avg',
    ]);
    expect(auctions[1]?.split(/\s{2,}/)).toEqual([
      'acme',
      '9',
      '6',
      '2',
      '33.3%',
      '1',
      '6.00 EUR, 30.00 USD',
      '6.00 EUR, 6.00 USD',
    ]);
    expect(auctions).toHaveLength(2);
    expect(formatPerformance({ ...report, rows: [row] })).not.toContain('auctions');
  });

  test('source performance: exhausted notifications shown, refusals absent; an empty window says so', () => {
    const source = { ...row, group: 'src-1', refusedByCode: undefined, notificationsExhausted: 3 };
    const lines = formatPerformance({ from: 'a', to: 'b', groupBy: 'source', rows: [source] }).split('\n');
    expect(lines[1]?.startsWith('source ')).toBe(true);
    const cells = lines[2]?.split(/\s{2,}/);
    expect(cells?.[9]).toBe('-');
    expect(cells?.[10]).toBe('3');
    expect(formatPerformance({ from: 'a', to: 'b', groupBy: 'source', rows: [] }).split('\n')[2]).toBe(
      '(no events in this window)',
    );
  });

  test('postback log lines: known and unknown partner, mapped status with payout, refusal reason', () => {
    const lines = formatPostbacks([
      {
        id: '1',
        receivedAt: '2026-11-01T10:00:00.000Z',
        partnerId: 'acme',
        outcome: 'applied',
        httpStatus: 200,
        leadId: 'lead-1',
        rawStatus: 'approved',
        status: 'accepted',
        payout: '12.00',
        currency: 'EUR',
      },
      {
        id: '2',
        receivedAt: '2026-11-01T10:00:01.000Z',
        outcome: 'rejected',
        httpStatus: 401,
        errorCode: 'bad_credentials',
      },
      {
        id: '3',
        receivedAt: '2026-11-01T10:00:02.000Z',
        partnerId: 'acme',
        outcome: 'test',
        leadId: 'lead-2',
        rawStatus: 'approved',
        payout: '1.00',
        reason: 'would apply',
      },
      {
        id: '4',
        receivedAt: '2026-11-01T10:00:03.000Z',
        partnerId: 'acme',
        outcome: 'rejected',
        httpStatus: 409,
        errorCode: 'conflict',
        errorMessage: 'lead already final',
      },
    ] as Parameters<typeof formatPostbacks>[0]);
    expect(lines).toEqual([
      `2026-11-01T10:00:00.000Z  acme          applied    200  lead-1                    "approved" -> accepted 12.00 EUR`,
      `2026-11-01T10:00:01.000Z  (unknown)     rejected   401  -                         -  bad_credentials:`,
      `2026-11-01T10:00:02.000Z  acme          test            lead-2                    "approved" 1.00  would apply`,
      `2026-11-01T10:00:03.000Z  acme          rejected   409  -                         -  conflict: lead already final`,
    ]);
  });

  test('refusals per partner and code, the partner column as wide as the longest id', () => {
    expect(formatRefusals({ from: 'a', to: 'b', rows: [] })).toBe('no refusals a .. b');
    expect(
      formatRefusals({
        from: 'a',
        to: 'b',
        rows: [
          { partnerId: 'a-very-long-partner', code: 'bad_credentials', count: 12 },
          { partnerId: 'acme', code: 'unknown_lead', count: 3 },
        ],
      }).split('\n'),
    ).toEqual([
      'refusals a .. b',
      '  a-very-long-partner      12  bad_credentials',
      '  acme                      3  unknown_lead',
    ]);
  });
});

describe('suppress', () => {
  const files: Record<string, string> = {
    'list.txt': '# people who asked\nOne@Example.com\r\n\n+44 20 7946 0000\n' + 'a'.repeat(64) + '\n',
  };
  const readFile = (f: string) => {
    const text = files[f];
    if (text === undefined) throw new Error('ENOENT');
    return text;
  };

  test('a file line is an email if it has @, a hash if 64 hex digits, else a phone; comments and blanks skipped', () => {
    expect(
      suppressionBody(
        { email: ['x@example.com'], file: ['list.txt'], country: 'GB', reason: 'asked' },
        readFile,
      ),
    ).toEqual({
      email: ['x@example.com', 'One@Example.com'],
      phone: ['+44 20 7946 0000'],
      hash: ['a'.repeat(64)],
      country: 'GB',
      reason: 'asked',
    });
  });

  test('an unreadable file and an empty list are usage errors (exit 2)', () => {
    const unreadable = (() => {
      try {
        suppressionBody({ file: ['missing.txt'] }, readFile);
      } catch (err) {
        return err;
      }
    })();
    expect(unreadable).toBeInstanceOf(CliError);
    expect(unreadable).toMatchObject({ exitCode: 2, message: 'cannot read missing.txt: ENOENT' });
    files['comments.txt'] = '# nothing here\n\n';
    expect(() => suppressionBody({ file: ['comments.txt'] }, readFile)).toThrow(/usage: leadrouter suppress/);
    expect(() => suppressionBody({})).toThrow(CliError);
  });

  test('the result line counts the new and the already listed', () => {
    expect(formatSuppression({ received: 5, added: 3 })).toBe('suppressed 5 (3 new, 2 already listed)\n');
  });
});
