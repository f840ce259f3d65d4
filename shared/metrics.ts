// Prometheus metrics (prom-client): one registry per process, with the names both gateway and worker use.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Partners answer in seconds or in days: buckets up to a week, so an alert can see one stop answering. */
const POSTBACK_DELAY_BUCKETS = [
  1,
  5,
  15,
  60,
  300,
  900,
  3600,
  4 * 3600,
  12 * 3600,
  86_400,
  3 * 86_400,
  7 * 86_400,
];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'leadrouter_' });
  // Full names here, as dashboards and docs/operations.md spell them.
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets = LATENCY_BUCKETS,
  ) => new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
  return {
    registry,
    postbacks: counter('leadrouter_postbacks_total', 'Postbacks received, by partner and outcome', [
      'partner',
      'outcome',
    ]),
    postbackSeconds: histogram(
      'leadrouter_postback_handling_seconds',
      'Time from postback received to response',
      ['outcome'],
    ),
    leadsReceived: counter('leadrouter_leads_received_total', 'Leads accepted for routing, by source', [
      'source',
    ]),
    duplicateLeads: counter(
      'leadrouter_duplicate_leads_total',
      'Leads found to repeat a person already received in the window, by source and action (reject, flag)',
      ['source', 'action'],
    ),
    httpRequests: counter(
      'leadrouter_http_requests_total',
      'Gateway HTTP responses by route and status code',
      ['route', 'code'],
    ),
    deliveries: counter('leadrouter_deliveries_total', 'Lead delivery attempts, by partner and outcome', [
      'partner',
      'outcome',
    ]),
    deliverySeconds: histogram('leadrouter_delivery_seconds', 'Partner delivery HTTP latency', ['partner']),
    notifications: counter(
      'leadrouter_notifications_total',
      'Source notification attempts, by source and result (delivered, failed, exhausted)',
      ['source', 'result'],
    ),
    outboxDeadLetters: counter(
      'leadrouter_outbox_dead_letters_total',
      'Outbox entries the reconciler gave up on after its attempts (kind: lead-start, postback-signal)',
      ['kind'],
    ),
    timeToPostback: histogram(
      'leadrouter_time_to_postback_seconds',
      "Time from a lead's delivery to the partner's deciding postback (accepted or rejected), by partner",
      ['partner', 'status'],
      POSTBACK_DELAY_BUCKETS,
    ),
    pingsShed: counter(
      'leadrouter_pings_shed_total',
      'Pings answered 503 overloaded at once: the auctions were answering late (their own time over half the deadline)',
      ['source'],
    ),
    pingAdmissionLimit: new Gauge({
      name: 'leadrouter_ping_admission_limit',
      help: 'Pings this gateway runs at once before it turns the next away (1000 until an answer comes too late)',
      registers: [registry],
    }),
    leadsFinal: counter(
      'leadrouter_leads_final_total',
      'Leads reaching a final status, by status and partner',
      ['status', 'partner'],
    ),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
