// Prometheus metrics (prom-client): one registry per process, with the names both gateway and worker use.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'leadrouter_' });
  const latencyBuckets = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    postbacks: new Counter({
      name: 'leadrouter_postbacks_total',
      help: 'Postbacks received, by partner and outcome',
      labelNames: ['partner', 'outcome'] as const,
      registers: [registry],
    }),
    postbackSeconds: new Histogram({
      name: 'leadrouter_postback_handling_seconds',
      help: 'Time from postback received to response',
      labelNames: ['outcome'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    leadsReceived: new Counter({
      name: 'leadrouter_leads_received_total',
      help: 'Leads accepted for routing, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    duplicateLeads: new Counter({
      name: 'leadrouter_duplicate_leads_total',
      help: 'Leads found to repeat a person already received in the window, by source and action (reject, flag)',
      labelNames: ['source', 'action'] as const,
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'leadrouter_http_requests_total',
      help: 'Gateway HTTP responses by route and status code',
      labelNames: ['route', 'code'] as const,
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'leadrouter_deliveries_total',
      help: 'Lead delivery attempts, by partner and outcome',
      labelNames: ['partner', 'outcome'] as const,
      registers: [registry],
    }),
    deliverySeconds: new Histogram({
      name: 'leadrouter_delivery_seconds',
      help: 'Partner delivery HTTP latency',
      labelNames: ['partner'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    notifications: new Counter({
      name: 'leadrouter_notifications_total',
      help: 'Source notification attempts, by source and result (delivered, failed, exhausted)',
      labelNames: ['source', 'result'] as const,
      registers: [registry],
    }),
    outboxDeadLetters: new Counter({
      name: 'leadrouter_outbox_dead_letters_total',
      help: 'Outbox entries the reconciler gave up on after its attempts (kind: lead-start, postback-signal)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    timeToPostback: new Histogram({
      name: 'leadrouter_time_to_postback_seconds',
      help: "Time from a lead's delivery to the partner's deciding postback (accepted or rejected), by partner",
      labelNames: ['partner', 'status'] as const,
      // Partners answer in seconds or in days: buckets up to a week, so an alert can see one stop answering.
      buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400],
      registers: [registry],
    }),
    leadsFinal: new Counter({
      name: 'leadrouter_leads_final_total',
      help: 'Leads reaching a final status, by status and partner',
      labelNames: ['status', 'partner'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
