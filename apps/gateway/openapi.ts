// The OpenAPI 3 document, generated from the same zod schemas that validate requests, and its reference page.
// Long on purpose: one registration per route and answer, kept in one file so the document is read in one place;
// the schemas themselves live in shared/http.
import Router from '@koa/router';
import { OpenAPIRegistry, OpenApiGeneratorV3, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  errorBodySchema,
  journeySchema,
  leadAcceptedSchema,
  leadIdSchema,
  leadInputSchema,
  leadListQuerySchema,
  leadListSchema,
  leadViewSchema,
  livenessSchema,
  postbackParamsSchema,
  postbackResultSchema,
  readinessSchema,
  replayFilterSchema,
  replayResultSchema,
  suppressionRequestSchema,
  suppressionResultSchema,
  replaySingleSchema,
  performanceQuerySchema,
  postbackLogPageSchema,
  postbackLogQuerySchema,
  refusalSummaryQuerySchema,
  refusalSummarySchema,
  performanceReportSchema,
  pingAnswerSchema,
  pingInputSchema,
  reportQuerySchema,
  reportSchema,
} from '../../shared/http';
import {
  outboxEntryIdSchema,
  outboxEntrySchema,
  outboxListSchema,
  outboxQuerySchema,
} from '../../shared/http';

/**
 * A component schema by name. zod's own `.meta({ id })` rather than the library's `.openapi()`, which needs
 * zod patched before any schema exists (shared/http builds its schemas at import time).
 */
const named = <T extends z.ZodType>(id: string, schema: T): T => schema.meta({ id }) as T;

type OpenApiDocument = ReturnType<OpenApiGeneratorV3['generateDocument']>;

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
/** A body of text in this media type (a chart, metrics, a page). */
const text = (mediaType: string) => ({ [mediaType]: { schema: z.string() } });

const AUTH_ERRORS = {
  401: 'Missing (`missing_credentials`) or unknown (`bad_credentials`) x-api-key',
  403: 'Key not allowed here (`forbidden`)',
};

function buildRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'sourceKey', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: "A traffic source's API key (from the routing config).",
  });
  registry.registerComponent('securitySchemes', 'adminKey', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'The operator key (ADMIN_API_KEY, or settings.adminApiKey in the routing config).',
  });

  const ErrorBody = named('Error', errorBodySchema);
  const errorResponses = (codes: Record<number, string>): RouteConfig['responses'] => {
    const out: RouteConfig['responses'] = {};
    for (const [code, description] of Object.entries(codes))
      out[code] = { description, content: json(ErrorBody) };
    return out;
  };
  const LeadInput = named('LeadInput', leadInputSchema);
  const LeadAccepted = named('LeadAccepted', leadAcceptedSchema);
  const LeadView = named('Lead', leadViewSchema);
  const PostbackParams = named('PostbackParams', postbackParamsSchema);
  const PostbackResult = named('PostbackResult', postbackResultSchema);
  const Report = named('Report', reportSchema);
  const LeadList = named('LeadList', leadListSchema);
  const Journey = named('Journey', journeySchema);
  const ReplayResult = named('ReplayResult', replayResultSchema);
  const ReplayRequest = named('ReplayRequest', z.union([replaySingleSchema, replayFilterSchema]));
  const badInput = errorResponses({
    400: 'Invalid input (`invalid_request`, with `issues` naming each bad field)',
  });
  /** An operator endpoint: behind the admin key, answering `ok`, bad input, the key's errors and `errors`. */
  const operatorPath = ({
    method,
    path,
    ok,
    errors,
    ...route
  }: Omit<RouteConfig, 'tags' | 'security' | 'responses'> & {
    ok: RouteConfig['responses'][number];
    errors?: Record<number, string>;
  }) =>
    registry.registerPath({
      // In the document's key order: method, path, tags, then the route's own.
      method,
      path,
      tags: ['Operators'],
      ...route,
      security: [{ adminKey: [] }],
      responses: { 200: ok, ...badInput, ...errorResponses({ ...AUTH_ERRORS, ...errors }) },
    });
  const leadIdParams = z.object({
    leadId: leadIdSchema.meta({ description: 'Our id of the lead (the subid partners echo back)' }),
  });

  registry.registerPath({
    method: 'post',
    path: '/leads',
    tags: ['Sources'],
    summary: 'Submit a lead',
    description:
      'Stores the lead and starts its workflow. The same `leadId` again returns the same lead (200) without a second delivery. With a `pingId` from POST /ping, the full lead is posted to the bid reserved then, without a second auction (202).',
    security: [{ sourceKey: [] }],
    request: { body: { required: true, content: json(LeadInput) } },
    responses: {
      202: { description: 'New lead, routing started', content: json(LeadAccepted) },
      200: {
        description: 'The lead with this leadId already exists (idempotent repeat)',
        content: json(LeadAccepted),
      },
      ...badInput,
      ...errorResponses({
        ...AUTH_ERRORS,
        404: 'Unknown `pingId`, or one of another source (`not_found`)',
        409: 'leadId already used by another source (`conflict`), a `pingId` expired or already used (`conflict`), or the same person within the duplicate window (`duplicate_lead`, naming the earlier lead)',
        413: 'Body too large',
        415: 'Not JSON',
      }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/ping',
    tags: ['Sources'],
    summary: 'Ping a lead (no contact data): run its auction and reserve the best bid',
    description:
      "Fixes the lead's id and runs its auction in the lead's workflow. Answers the reserved bid and its `pingId` (the lead's id) until `expiresAt`, or `bid: null` and why. POST /leads with that `pingId` then posts the full lead to the winner.",
    security: [{ sourceKey: [] }],
    request: { body: { required: true, content: json(named('PingInput', pingInputSchema)) } },
    responses: {
      200: { description: "The auction's answer", content: json(named('PingAnswer', pingAnswerSchema)) },
      ...badInput,
      ...errorResponses({
        ...AUTH_ERRORS,
        413: 'Body too large',
        415: 'Not JSON',
        503: 'Temporal unavailable: the auction could not be run (`dependency_unavailable`); or the gateway is behind on its auctions and answers at once (`overloaded`, `Retry-After`), storing nothing',
      }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/leads/{leadId}',
    tags: ['Sources'],
    summary: 'Read a lead: status, payout, history, deliveries and notifications',
    security: [{ sourceKey: [] }, { adminKey: [] }],
    request: { params: leadIdParams },
    responses: {
      200: { description: 'The lead', content: json(LeadView) },
      ...errorResponses({ ...AUTH_ERRORS, 404: "No such lead, or not this source's (`unknown_lead`)" }),
    },
  });

  const postbackHeaders = z.object({
    'x-signature': z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional()
      .meta({
        description:
          'hex(HMAC-SHA256(hmacSecret, parameters minus signature, sorted by name, as k=v joined by &)); needs a `ts` parameter within 300 s',
      }),
    authorization: z
      .string()
      .optional()
      .meta({ description: '`Bearer <token>`: the shared token, when no `token` parameter is sent' }),
  });
  const postbackResponses: RouteConfig['responses'] = {
    200: {
      description: 'Applied (`duplicate: false`) or already received (`duplicate: true`)',
      content: json(PostbackResult),
    },
    202: {
      description:
        'Stored; Temporal is unreachable, the status is applied as soon as it is back (`queued: true`)',
      content: json(PostbackResult),
    },
    ...badInput,
    ...errorResponses({
      401: 'Token missing (`missing_credentials`) or wrong (`bad_credentials`)',
      403: 'Bad or replayed signature, or address not allowed (`bad_signature`, `replayed_signature`, `ip_not_allowed`, `forbidden`)',
      404: 'Unknown lead (`unknown_lead`) or partner (`unknown_partner`)',
      409: 'Not a valid transition for the lead, or lead not delivered yet (`conflict`)',
      422: "Raw status not in the partner's status map (`unmapped_status`)",
      503: 'The postback could not be recorded (`dependency_unavailable`); retry',
    }),
  };
  const postbackDescription =
    'The partner tells us what became of a lead. Parameters may come in the query string, a form body or a JSON body; a partner may use its own names for them (aliases in the routing config, e.g. `clickid` for `subid`). In a JSON body, numbers and true/false are read as their text (`12.5`, `2`) when parsing lost no digit (an integer past 2^53, more than 15 significant digits or an exponent is a 400: send it as a string), and null is an absent parameter. A query parameter repeated with the same value is that value; with different values, a 400. HEAD is answered 405 and applies nothing. Every request is logged with its outcome before the answer.';
  const partnerParams = z.object({
    partnerId: z.string().meta({ description: 'The partner id from the routing config' }),
  });
  for (const withPartner of [false, true]) {
    const path = withPartner ? '/postback/{partnerId}' : '/postback';
    const params = withPartner ? { params: partnerParams } : {};
    registry.registerPath({
      method: 'get',
      path,
      tags: ['Partners'],
      summary: withPartner
        ? 'Partner postback (partner named in the path, its aliases apply)'
        : 'Partner postback (partner found from the lead)',
      description: postbackDescription,
      request: { ...params, query: postbackParamsSchema, headers: postbackHeaders },
      responses: postbackResponses,
    });
    registry.registerPath({
      method: 'post',
      path,
      tags: ['Partners'],
      summary: withPartner
        ? 'Partner postback as a form or JSON body (partner named in the path)'
        : 'Partner postback as a form or JSON body',
      description: postbackDescription,
      request: {
        ...params,
        headers: postbackHeaders,
        body: {
          content: {
            'application/x-www-form-urlencoded': { schema: PostbackParams },
            'application/json': { schema: PostbackParams },
          },
        },
      },
      responses: postbackResponses,
    });
  }

  operatorPath({
    method: 'get',
    path: '/reports/summary',
    summary:
      'Counts per status, acceptance rate and revenue per source or partner over a time window (default: the last 24 h)',
    request: { query: reportQuerySchema },
    ok: { description: 'The report', content: json(Report) },
  });

  const PerformanceReport = named('PerformanceReport', performanceReportSchema);
  for (const groupBy of ['partner', 'source'] as const) {
    operatorPath({
      method: 'get',
      path: `/reports/${groupBy}s`,
      summary: `Performance per ${groupBy} over a time window (default: the last 24 h): statuses, acceptance and return rates, revenue and earnings per decided lead by currency`,
      description:
        'Counted by recorded time from the same read model as `/reports/summary`. Amounts of different currencies are never added.',
      request: { query: performanceQuerySchema },
      ok: { description: 'The report', content: json(PerformanceReport) },
    });
  }

  operatorPath({
    method: 'get',
    path: '/reports/partners/{partnerId}/chart.svg',
    summary:
      "A partner's accepted, rejected and expired leads per day as an SVG bar chart (default: the last 30 days, at most 93)",
    request: { params: partnerParams, query: performanceQuerySchema },
    ok: { description: 'The chart', content: text('image/svg+xml') },
  });
  const PostbackLogPage = named('PostbackLogPage', postbackLogPageSchema);
  const RefusalSummary = named('RefusalSummary', refusalSummarySchema);
  operatorPath({
    method: 'get',
    path: '/admin/postbacks',
    summary: 'The postback log: every postback received, newest first, with cursor pagination',
    description:
      "Filter by `partnerId`, `outcome` (`refused` is another name for `rejected`), refusal `code` and a `from`/`to` window. Secrets appear redacted, as they were stored. Paging is stable while postbacks arrive: the cursor is the last row's `receivedAt` and id.",
    request: { query: postbackLogQuerySchema },
    ok: { description: 'One page of postbacks', content: json(PostbackLogPage) },
  });
  operatorPath({
    method: 'get',
    path: '/admin/postbacks/refusals',
    summary: 'Refused postbacks per partner and error code over a window (default: the last 24 h)',
    request: { query: refusalSummaryQuerySchema },
    ok: { description: 'Counts, most first', content: json(RefusalSummary) },
  });

  /** An operations endpoint: no key, a GET whose answers are these. */
  const operationsPath = (path: string, summary: string, responses: RouteConfig['responses']) =>
    registry.registerPath({ method: 'get', path, tags: ['Operations'], summary, responses });
  operationsPath('/healthz', 'Liveness: the process answers', {
    200: { description: 'Alive', content: json(livenessSchema) },
  });
  operationsPath('/readyz', 'Readiness: MongoDB and Temporal reachable, not draining', {
    200: { description: 'Ready for traffic', content: json(readinessSchema) },
    503: {
      description: 'A dependency is down, or the gateway is draining (Retry-After)',
      content: json(readinessSchema),
    },
  });
  operationsPath('/metrics', 'Prometheus metrics (text exposition format)', {
    200: { description: 'Metrics', content: text('text/plain') },
  });
  operationsPath('/openapi.json', 'This document', {
    200: { description: 'OpenAPI 3 document', content: json(z.record(z.string(), z.unknown())) },
  });
  operationsPath('/docs', 'This document rendered as an HTML reference page', {
    200: { description: 'HTML page', content: text('text/html') },
  });

  operatorPath({
    method: 'get',
    path: '/admin/leads',
    summary: 'List and search leads, newest first, with cursor pagination',
    request: { query: leadListQuerySchema },
    ok: { description: 'One page of leads', content: json(LeadList) },
  });
  operatorPath({
    method: 'get',
    path: '/admin/leads/{leadId}/journey',
    summary: "A lead's journey: deliveries, postbacks received, notifications and statuses as one timeline",
    request: { params: leadIdParams },
    ok: { description: 'The journey', content: json(Journey) },
    errors: { 404: 'No such lead (`unknown_lead`)' },
  });
  operatorPath({
    method: 'post',
    path: '/admin/notifications/replay',
    summary: 'Replay exhausted source notifications: one (`leadId` + `status`) or in bulk by filter',
    description:
      'Sends the `replayNotification` signal (signal-with-start, so finished workflows take it too). `dryRun: true` lists the matches without sending.',
    request: { body: { required: true, content: json(ReplayRequest) } },
    ok: { description: 'What was matched and replayed', content: json(ReplayResult) },
    errors: {
      404: 'No such lead (`unknown_lead`)',
      409: 'The lead has no exhausted notification for this status (`conflict`)',
      503: 'Temporal unreachable (`dependency_unavailable`)',
    },
  });
  operatorPath({
    method: 'get',
    path: '/admin/outbox',
    summary: 'Outbox entries: dead-lettered (default) or still waiting to be sent, oldest first',
    description:
      'Queued workflow starts and postback signals the reconciler sends once Temporal answers. An entry whose call Temporal refuses is tried again with a backoff and, after its attempts, marked dead (metric `leadrouter_outbox_dead_letters_total`).',
    request: { query: outboxQuerySchema },
    ok: { description: 'The entries', content: json(named('OutboxList', outboxListSchema)) },
  });
  operatorPath({
    method: 'post',
    path: '/admin/outbox/{id}/retry',
    summary:
      'Put an outbox entry back in line: its attempts and dead mark are cleared, the next pass sends it',
    request: { params: z.object({ id: outboxEntryIdSchema }) },
    ok: { description: 'The entry, now waiting', content: json(named('OutboxEntry', outboxEntrySchema)) },
    errors: { 404: 'No unsent outbox entry with this id (`not_found`)' },
  });
  operatorPath({
    method: 'post',
    path: '/admin/suppressions',
    summary: 'Add people to the suppression list: never delivered to any partner',
    description:
      'Emails and phones are normalized and hashed on arrival (only identity hashes are stored); `hash` takes hashes as stored. All or nothing: one bad entry refuses the list.',
    request: {
      body: { required: true, content: json(named('SuppressionRequest', suppressionRequestSchema)) },
    },
    ok: {
      description: 'How many entries were received and new',
      content: json(named('SuppressionResult', suppressionResultSchema)),
    },
    errors: { 409: 'No identity secret configured (`conflict`)' },
  });
  return registry;
}

let cached: OpenApiDocument | undefined;

export function openApiDocument(): OpenApiDocument {
  cached ??= new OpenApiGeneratorV3(buildRegistry().definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: 'leadrouter',
      version: '0.1.0',
      description:
        'Lead router with server-to-server postback tracking. Errors are `{"error":{"code","message","issues"}}` with the HTTP status of the code.',
    },
    tags: [
      { name: 'Sources', description: 'Traffic sources submit and read leads' },
      { name: 'Partners', description: 'Partners (buyers) post back what became of a lead' },
      { name: 'Operators', description: 'Admin key: reports, lead search, journeys, replays' },
      { name: 'Operations', description: 'Health, metrics and this documentation' },
    ],
  });
  return cached;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Escaped text with `code` spans, the only markup our descriptions use. */
const inline = (s: unknown) => escapeHtml(String(s ?? '')).replace(/`([^`]+)`/g, '<code>$1</code>');

type SchemaNode = Record<string, unknown>;

/** A compact one-line type for a schema, with links to named components. */
function typeLabel(schema: SchemaNode | undefined): string {
  if (!schema) return '';
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.split('/').pop() as string;
    return `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`;
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const parts = schema[key] as SchemaNode[] | undefined;
    if (parts) return parts.map(typeLabel).join(key === 'allOf' ? ' &amp; ' : ' | ');
  }
  if (Array.isArray(schema.enum))
    return schema.enum.map((v) => `<code>${escapeHtml(JSON.stringify(v))}</code>`).join(' | ');
  if (schema.type === 'array') return `${typeLabel(schema.items as SchemaNode)}[]`;
  const extra = [schema.format, schema.pattern ? `pattern ${String(schema.pattern)}` : undefined]
    .filter(Boolean)
    .map((x) => escapeHtml(String(x)));
  return `${escapeHtml(String(schema.type ?? 'any'))}${extra.length ? ` <small>(${extra.join(', ')})</small>` : ''}`;
}

function propertiesTable(schema: SchemaNode): string {
  const props = schema.properties as Record<string, SchemaNode> | undefined;
  if (!props) return `<p>${typeLabel(schema)}</p>`;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const rows = Object.entries(props)
    .map(
      ([name, p]) =>
        `<tr><td><code>${escapeHtml(name)}</code>${required.has(name) ? ' *' : ''}</td><td>${typeLabel(p)}</td><td>${inline(p.description)}</td></tr>`,
    )
    .join('');
  return `<table><tr><th>field</th><th>type</th><th></th></tr>${rows}</table>`;
}

/** The reference page, rendered on the server from the document: no scripts, nothing loaded from elsewhere. */
export function renderDocsHtml(doc: OpenApiDocument): string {
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, SchemaNode>)) {
      const id = `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;
      toc.push(
        `<li><a href="#${id}"><b>${method.toUpperCase()}</b> ${escapeHtml(path)}</a> — ${inline(op.summary)}</li>`,
      );
      const params = ((op.parameters as SchemaNode[] | undefined) ?? [])
        .map(
          (p) =>
            `<tr><td><code>${escapeHtml(String(p.name))}</code>${p.required ? ' *' : ''}</td><td>${escapeHtml(String(p.in))}</td><td>${typeLabel(p.schema as SchemaNode)}</td><td>${inline(p.description ?? (p.schema as SchemaNode | undefined)?.description)}</td></tr>`,
        )
        .join('');
      const body = (op.requestBody as SchemaNode | undefined)?.content as
        Record<string, SchemaNode> | undefined;
      const security = (op.security as Record<string, unknown>[] | undefined)
        ?.map((s) => Object.keys(s).join('+'))
        .join(' or ');
      const responses = Object.entries((op.responses as Record<string, SchemaNode>) ?? {})
        .map(([code, r]) => {
          const content = r.content as Record<string, SchemaNode> | undefined;
          const first = content ? Object.values(content)[0] : undefined;
          return `<tr><td>${escapeHtml(code)}</td><td>${inline(r.description)}</td><td>${first ? typeLabel(first.schema as SchemaNode) : ''}</td></tr>`;
        })
        .join('');
      ops.push(`<section id="${id}"><h3><span class="m ${method}">${method.toUpperCase()}</span> ${escapeHtml(path)}</h3>
<p>${inline(op.summary)}</p>${op.description ? `<p>${inline(op.description)}</p>` : ''}
${security ? `<p>Auth: <code>x-api-key</code> (${escapeHtml(security)})</p>` : ''}
${params ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th></tr>${params}</table>` : ''}
${
  body
    ? `<h4>Body</h4><p>${Object.entries(body)
        .map(([type, m]) => `${escapeHtml(type)}: ${typeLabel(m.schema as SchemaNode)}`)
        .join('<br>')}</p>`
    : ''
}
<h4>Responses</h4><table><tr><th>status</th><th></th><th>body</th></tr>${responses}</table></section>`);
    }
  }
  const schemas = Object.entries((doc.components?.schemas ?? {}) as Record<string, SchemaNode>)
    .map(
      ([name, s]) =>
        `<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${propertiesTable(s)}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.info.title)} API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
code{background:#f4f4f4;padding:0 .2em}section{border-top:1px solid #eee;margin-top:1.5em}
.m{font-family:monospace;padding:.1em .4em;border-radius:3px;color:#fff;background:#555}.get{background:#2b7a3d}.post{background:#1f5fa8}
</style></head><body>
<h1>${escapeHtml(doc.info.title)} API <small>${escapeHtml(doc.info.version)}</small></h1>
<p>${inline(doc.info.description)}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${escapeHtml(doc.openapi)}).</p>
<h2>Endpoints</h2><ul>${toc.join('')}</ul>
${ops.join('\n')}
<h2>Schemas</h2>
${schemas}
</body></html>`;
}

export function docsRouter(): Router {
  const router = new Router();
  let html: string | undefined;
  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument();
  });
  router.get('/docs', (ctx) => {
    html ??= renderDocsHtml(openApiDocument());
    ctx.type = 'html';
    ctx.body = html;
  });
  return router;
}
