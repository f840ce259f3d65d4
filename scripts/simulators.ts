// Loopback stand-ins for a partner (buyer) API and a traffic source's postback endpoint, used by the
// demo, the end-to-end tests and the benchmarks. Real HTTP servers, real sockets.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedLead {
  subid: string;
  body: Record<string, unknown>;
  at: number;
}

export interface PartnerBehavior {
  /** HTTP status of the delivery answer (default 200). */
  httpStatus?: number;
  /** Answer body (JSON-encoded unless a string). */
  body?: unknown;
  /** Post back first and answer the delivery only then (partners that decide inside the request). */
  postbackBeforeAnswer?: boolean;
  /** A postback to send after answering, or none. */
  postback?: {
    status?: string;
    payout?: string;
    txid?: string;
    delayMs?: number;
    extra?: Record<string, string>;
  }[];
}

/** How the partner answers a ping (a request to `<url>/ping`): a bid, or a refusal (`bid: null`). */
export interface PingBehavior {
  bid?: number | string | null;
  currency?: string;
  /** Answer after this long (a slow bidder, or one past the auction's deadline). */
  latencyMs?: number;
  httpStatus?: number;
  reason?: string;
  pingId?: string;
}

export interface ReceivedPing {
  body: Record<string, unknown>;
  at: number;
  /** The ping id the answer carried, if it bid. */
  pingId?: string;
}

export interface PartnerSimulator {
  url: string;
  received: ReceivedLead[];
  /** Pings received at `<url>/ping`, answered as `setPingBehavior` says ({bid, currency, pingId, accepted, reason}). */
  pings: ReceivedPing[];
  setPingBehavior(fn: (ping: ReceivedPing, n: number) => PingBehavior): void;
  /** One entry per postback, with the answer to its last attempt (`attempts` > 1 when it was retried). */
  postbackResults: { subid: string; status?: string; httpStatus: number; body: string; attempts?: number }[];
  /** Postbacks scheduled or being sent right now (including retries still to come). */
  pendingPostbacks(): number;
  setBehavior(fn: (lead: ReceivedLead, n: number) => PartnerBehavior): void;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

function listen(server: http.Server, port = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface PartnerSimulatorOptions {
  port?: number;
  /** Where to post back, e.g. http://127.0.0.1:3000/postback/acme. */
  postbackUrl?: string;
  /** Several gateways: postbacks start at each in turn, and a retry goes to the next (a load balancer's way). */
  postbackUrls?: string[];
  token?: string;
  /** The partner's name for our subid in its postbacks. */
  subidParam?: string;
  /** The field our subid arrives in with the delivered lead. */
  subidField?: string;
  behavior?: (lead: ReceivedLead, n: number) => PartnerBehavior;
  /**
   * Re-send a postback that got no answer, a 5xx or a 429, with doubling delays, as a partner with a
   * retry queue does. Default: send once and record whatever came back.
   */
  postbackRetry?: { attempts: number; initialDelayMs?: number; maxDelayMs?: number; timeoutMs?: number };
}

export async function startPartnerSimulator(
  options: PartnerSimulatorOptions = {},
): Promise<PartnerSimulator> {
  let behavior: (lead: ReceivedLead, n: number) => PartnerBehavior = options.behavior ?? (() => ({}));
  const received: ReceivedLead[] = [];
  const postbackResults: PartnerSimulator['postbackResults'] = [];
  const timers = new Set<NodeJS.Timeout>();
  let sending = 0;
  let stopped = false;

  // Read at send time: tests fill in the gateway's address after the simulator has started.
  const postbackUrls = (): string[] =>
    options.postbackUrls ?? (options.postbackUrl ? [options.postbackUrl] : []);
  let turn = 0;

  async function postBack(subid: string, pb: NonNullable<PartnerBehavior['postback']>[number]) {
    if (!postbackUrls().length) return;
    sending++;
    try {
      await postBackWithRetries(subid, pb);
    } finally {
      sending--;
    }
  }

  async function postBackWithRetries(subid: string, pb: NonNullable<PartnerBehavior['postback']>[number]) {
    const first = turn++;
    const urls = postbackUrls();
    const u = new URL(urls[first % urls.length] as string);
    u.searchParams.set(options.subidParam ?? 'subid', subid);
    if (pb.status !== undefined) u.searchParams.set('status', pb.status);
    if (pb.payout) u.searchParams.set('payout', pb.payout);
    if (pb.txid) u.searchParams.set('txid', pb.txid);
    if (options.token) u.searchParams.set('token', options.token);
    for (const [k, v] of Object.entries(pb.extra ?? {})) u.searchParams.set(k, v);
    const retry = options.postbackRetry;
    let delay = retry?.initialDelayMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      let httpStatus = 0;
      let text: string;
      try {
        const res = await fetch(u, retry?.timeoutMs ? { signal: AbortSignal.timeout(retry.timeoutMs) } : {});
        httpStatus = res.status;
        text = await res.text();
      } catch (err) {
        text = String(err);
      }
      const retriable = httpStatus === 0 || httpStatus === 429 || httpStatus >= 500;
      if (!retry || !retriable || attempt >= retry.attempts || stopped) {
        postbackResults.push({
          subid,
          status: pb.status,
          httpStatus,
          body: text,
          ...(retry ? { attempts: attempt } : {}),
        });
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, retry.maxDelayMs ?? 10_000);
      const next = new URL(urls[(first + attempt) % urls.length] as string);
      [u.protocol, u.host, u.pathname] = [next.protocol, next.host, next.pathname];
    }
  }

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const text = await readBody(req);
      let body: Record<string, unknown> = {};
      if ((req.headers['content-type'] ?? '').includes('json'))
        body = JSON.parse(text || '{}') as Record<string, unknown>;
      else body = Object.fromEntries(new URLSearchParams(text || new URL(req.url ?? '/', 'http://x').search));
      if (new URL(req.url ?? '/', 'http://x').pathname.endsWith('/ping')) return answerPing(body, res);
      const subid = String(body[options.subidField ?? 'subid'] ?? '');
      const lead = { subid, body, at: Date.now() };
      received.push(lead);
      const b = behavior(lead, received.length);
      if (b.postbackBeforeAnswer) {
        for (const pb of b.postback ?? []) await postBack(subid, pb);
      }
      res.statusCode = b.httpStatus ?? 200;
      res.setHeader('content-type', typeof b.body === 'string' ? 'text/plain' : 'application/json');
      res.end(typeof b.body === 'string' ? b.body : JSON.stringify(b.body ?? { received: true }));
      let delay = 0;
      for (const pb of b.postbackBeforeAnswer ? [] : (b.postback ?? [])) {
        delay += pb.delayMs ?? 50;
        const t = setTimeout(() => {
          timers.delete(t);
          void postBack(subid, pb);
        }, delay);
        timers.add(t);
      }
    })();
  });
  const pings: ReceivedPing[] = [];
  let pingBehavior: (ping: ReceivedPing, n: number) => PingBehavior = () => ({
    bid: null,
    reason: 'no bids today',
  });
  async function answerPing(body: Record<string, unknown>, res: ServerResponse) {
    const ping: ReceivedPing = { body, at: Date.now() };
    pings.push(ping);
    const b = pingBehavior(ping, pings.length);
    if (b.latencyMs) await new Promise((r) => setTimeout(r, b.latencyMs));
    const bids = b.bid !== null && b.bid !== undefined;
    if (bids) ping.pingId = b.pingId ?? `ping-${pings.length}-${Math.random().toString(36).slice(2, 10)}`;
    res.statusCode = b.httpStatus ?? 200;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        accepted: bids,
        ...(bids ? { bid: b.bid, currency: b.currency ?? 'USD', pingId: ping.pingId } : {}),
        ...(b.reason ? { reason: b.reason } : {}),
      }),
    );
  }

  const url = await listen(server, options.port);
  return {
    url,
    received,
    pings,
    setPingBehavior: (fn) => void (pingBehavior = fn),
    postbackResults,
    pendingPostbacks: () => timers.size + sending,
    setBehavior: (fn) => void (behavior = fn),
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await close(server);
    },
  };
}

export interface SourceHit {
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
  answered: number;
}

export interface SourceSimulator {
  url: string;
  hits: SourceHit[];
  /** Answer 500 to the next `n` calls. */
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startSourceSimulator(
  options: { port?: number; failFirst?: number } = {},
): Promise<SourceSimulator> {
  let failures = options.failFirst ?? 0;
  const hits: SourceHit[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const answered = failures > 0 ? 500 : 200;
      if (failures > 0) failures--;
      hits.push({
        query: Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams),
        headers: req.headers,
        body,
        at: Date.now(),
        answered,
      });
      res.statusCode = answered;
      res.end(answered === 200 ? 'ok' : 'try again');
    })();
  });
  const url = await listen(server, options.port);
  return { url, hits, failNext: (n) => void (failures = n), stop: () => close(server) };
}
