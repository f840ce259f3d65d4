// The demo path: partner and source simulators on the loopback ports the example config names, and a
// handful of leads pushed through so that each ends in a different status.
import path from 'node:path';
import type { RoutingConfig } from '../../shared/config';
import { repoRoot } from '../processes';
import { leadWorkflowId } from '../../shared/temporal';
import {
  startPartnerSimulator,
  startSourceSimulator,
  type PartnerBehavior,
  type PartnerSimulator,
  type PingBehavior,
  type ReceivedLead,
  type SourceSimulator,
} from '../simulators';

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

function loopbackPort(url: string): number | undefined {
  const u = new URL(url);
  return LOOPBACK.has(u.hostname) && u.port ? Number(u.port) : undefined;
}

/** What each simulated partner does with a lead, by the lead's `data.demo` scenario. */
function behaviorFor(partnerId: string) {
  return (lead: ReceivedLead): PartnerBehavior => {
    // JSON partners get nested fields; form partners get them flattened (data.demo -> demo).
    const scenario = String(
      (lead.body.data as Record<string, unknown> | undefined)?.demo ?? lead.body.demo ?? 'accept',
    );
    switch (scenario) {
      case 'accept':
        return {
          postback: [{ status: 'approved', payout: '15.00', txid: `tx-${lead.subid}`, delayMs: 800 }],
        };
      case 'multistep':
        return {
          postback: [
            { status: 'hold', delayMs: 800 },
            { status: 'approved', payout: '22.40', delayMs: 1500 },
          ],
        };
      case 'reject':
        // Acme says no on the spot (synchronous answer): the lead falls through to the next partner, which declines later.
        return partnerId === 'acme'
          ? { body: { status: 'rejected' } }
          : { postback: [{ status: 'declined', delayMs: 800 }] };
      case 'chargeback':
        return {
          postback: [
            { status: 'approved', payout: '18.00', delayMs: 800 },
            { status: 'chargeback', delayMs: 2000 },
          ],
        };
      case 'auction-refuse':
        // The auction's winner (solarbid, the higher bid) refuses the post; the second bidder takes the lead.
        return partnerId === 'solarbid'
          ? { body: { status: 'rejected' } }
          : { postback: [{ status: 'approved', delayMs: 800 }] };
      case 'silent':
        return {};
      default:
        return { postback: [{ status: 'approved', delayMs: 800 }] };
    }
  };
}

/** What each simulated ping-post buyer bids (any other partner declines to bid). */
const DEMO_BIDS: Record<string, PingBehavior> = {
  solarbid: { bid: '14.00', latencyMs: 60 },
  sunbuyer: { bid: '11.50', latencyMs: 120 },
};

export const EXAMPLE_CONFIG = path.join(repoRoot, 'config', 'routing.yaml');

/**
 * Simulators stand in for the example config's made-up partners. A user's own config points at their own
 * mocks or real partners, so it gets none unless asked (`--simulators`); `--demo` needs them to run at all.
 */
export function simulatorsWanted(
  configPath: string,
  flags: { simulators?: boolean; demo?: boolean },
): boolean {
  return Boolean(flags.simulators || flags.demo) || path.resolve(configPath) === EXAMPLE_CONFIG;
}

export interface DemoSimulators {
  partners: Map<string, PartnerSimulator>;
  source?: SourceSimulator;
  stop(): Promise<void>;
}

/** Runs `start`; a port someone else already listens on is reported through `note` and skipped, not fatal. */
async function unlessTaken<T>(
  what: string,
  url: string,
  note: (line: string) => void,
  start: () => Promise<T>,
) {
  try {
    return await start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    note(
      `${what} ${url}: port ${new URL(url).port} is already in use; no simulator for it (what listens there gets the requests)`,
    );
    return undefined;
  }
}

/**
 * Starts a simulator for every partner and source whose URL is on loopback, posting back to the gateway.
 * A port already taken (the user's own mock) is named through `note` and left alone.
 */
export async function startDemoSimulators(
  config: RoutingConfig,
  gatewayUrl: string,
  note: (line: string) => void = () => undefined,
): Promise<DemoSimulators> {
  const partners = new Map<string, PartnerSimulator>();
  for (const p of config.partners) {
    const port = loopbackPort(p.delivery.url);
    if (port === undefined) continue;
    const sim = await unlessTaken(`partner ${p.id}`, p.delivery.url, note, () =>
      startPartnerSimulator({
        port,
        postbackUrl: `${gatewayUrl}/postback/${p.id}`,
        token: p.postback.token,
        subidParam: p.postback.params.subid,
        subidField: p.delivery.subidField,
        behavior: behaviorFor(p.id),
      }),
    );
    if (!sim) continue;
    sim.setPingBehavior(() => DEMO_BIDS[p.id] ?? { bid: null, reason: 'not buying today' });
    partners.set(p.id, sim);
  }
  const sourceUrl = config.sources.find((s) => s.postbackUrl && loopbackPort(s.postbackUrl) !== undefined);
  const source =
    sourceUrl?.postbackUrl !== undefined
      ? await unlessTaken(`source ${sourceUrl.id} postbackUrl`, sourceUrl.postbackUrl, note, () =>
          startSourceSimulator({ port: loopbackPort(sourceUrl.postbackUrl!) }),
        )
      : undefined;
  return {
    partners,
    source,
    async stop() {
      await Promise.all([...partners.values()].map((p) => p.stop()));
      await source?.stop();
    },
  };
}

/** A demo lead: the status it should end in, and the body POST /leads gets (`data.demo` picks the partner's act). */
const demoLead = (
  expect: string,
  clickId: string,
  vertical: string,
  geo: Record<string, string>,
  demo: string,
) => ({
  expect,
  body: { clickId, vertical, geo, data: { demo } },
});

export const DEMO_LEADS = [
  demoLead('accepted', 'demo-accept', 'auto', { country: 'US', state: 'TX', zip: '73301' }, 'accept'),
  demoLead('accepted', 'demo-hold-then-approve', 'home', { country: 'US' }, 'multistep'),
  demoLead('rejected', 'demo-reject', 'auto', { country: 'US' }, 'reject'),
  demoLead('returned', 'demo-chargeback', 'auto', { country: 'US' }, 'chargeback'),
  demoLead('expired', 'demo-expire', 'auto', { country: 'GB' }, 'silent'),
  // An auction: solarbid bids 14.00, sunbuyer 11.50; solarbid wins, is posted the lead with its ping id, and
  // approves it without naming a payout: the lead earns the winning bid.
  demoLead('accepted', 'demo-auction', 'solar', { country: 'US', state: 'CA', zip: '94107' }, 'auction'),
  // The same auction, but solarbid refuses the post: sunbuyer's bid, the next highest, gets the lead.
  demoLead(
    'accepted',
    'demo-auction-refused',
    'solar',
    { country: 'US', state: 'AZ', zip: '85001' },
    'auction-refuse',
  ),
  demoLead('failed', 'demo-no-buyer', 'auto', { country: 'FR' }, 'accept'),
];

/** Pushes the demo leads through the gateway and prints where each one ends. */
export async function runDemo(
  gatewayUrl: string,
  apiKey: string,
  uiUrl: string | undefined,
  print: (line: string) => void,
): Promise<boolean> {
  const started: { leadId: string; expect: string; clickId: string }[] = [];
  for (const lead of DEMO_LEADS) {
    const res = await fetch(`${gatewayUrl}/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: JSON.stringify(lead.body),
    });
    const body = (await res.json()) as { leadId: string };
    started.push({ leadId: body.leadId, expect: lead.expect, clickId: lead.body.clickId });
    print(`  lead ${body.leadId}  ${lead.body.clickId.padEnd(24)} -> expecting ${lead.expect}`);
  }
  print("  waiting for postbacks and timeouts (the expiring lead takes its partner's 30 s deadline)...");
  const deadline = Date.now() + 90_000;
  const final = new Map<string, string>();
  while (Date.now() < deadline && final.size < started.length) {
    for (const s of started) {
      const res = await fetch(`${gatewayUrl}/leads/${s.leadId}`, { headers: { 'x-api-key': apiKey } });
      const lead = (await res.json()) as { status: string };
      if (lead.status === s.expect) final.set(s.leadId, lead.status);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  print('');
  print('  clickId                    status     partner          lead');
  for (const s of started) {
    const res = await fetch(`${gatewayUrl}/leads/${s.leadId}`, { headers: { 'x-api-key': apiKey } });
    const lead = (await res.json()) as { status: string; partnerId?: string; payout?: string };
    const mark = lead.status === s.expect ? 'ok ' : 'DIFF';
    const soldTo = lead.partnerId ? `${lead.partnerId}${lead.payout ? ` ${lead.payout}` : ''}` : '';
    print(
      `  ${mark} ${s.clickId.padEnd(24)} ${lead.status.padEnd(10)} ${soldTo.padEnd(16)} ${gatewayUrl}/leads/${s.leadId}${uiUrl ? `  ${uiUrl}/namespaces/default/workflows/${leadWorkflowId(s.leadId)}` : ''}`,
    );
  }
  return final.size === started.length;
}
