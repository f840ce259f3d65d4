// Requests generated from the gateway's own /openapi.json (the schemathesis idea in TypeScript, so `npm test`
// needs no Python): every operation, with schema-valid and schema-violating parameters, bodies and keys.
// 0 responses 5xx, and refused requests change no data. The heavier run is scripts/schemathesis.sh.
import fc from 'fast-check';
import { request, type Dispatcher } from 'undici';
import { Lead, PostbackClaim, PostbackLog, StatusEvent } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { pendingLead } from '../support/postbacks';
import { ADMIN_KEY, baseConfig } from '../support/stack';

const SOURCE_KEY = 'key-src-1-abcdef';
const TOKEN = 'acme-token-123';
const REQUESTS = 1000;

let seeded: string[] = [];

const { stack } = useStack({
  config: ({ partner, source }) => baseConfig(partner.url, source.url),
  ready: async ({ stack }) => {
    seeded = await Promise.all([1, 2, 3].map((i) => pendingLead(stack, 'auto', `seed-${i}`)));
  },
  timeoutMs: 120_000,
});

// ---- A small JSON Schema (OpenAPI 3.0 subset) to fast-check translation ----

/** The parts of JSON Schema the gateway's document uses. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  nullable?: boolean;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  maxItems?: number;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  default?: unknown;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: Record<string, string[]>[];
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** Values the schema allows (as far as the generator can tell: patterns with lookarounds are not used here). */
function valid(doc: Document, schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) return valid(doc, doc.components.schemas[schema.$ref.split('/').pop()!]!, depth);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((s) => valid(doc, s, depth)));
  if (schema.allOf) return valid(doc, Object.assign({}, ...schema.allOf) as Schema, depth);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const base = ((): fc.Arbitrary<unknown> => {
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    switch (type) {
      case 'string':
        if (schema.pattern)
          return fc
            .stringMatching(new RegExp(schema.pattern))
            .filter((s) => s.length <= (schema.maxLength ?? Infinity));
        if (schema.format === 'date-time')
          return fc
            .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
            .map((d) => d.toISOString());
        if (schema.format === 'date')
          return fc
            .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
            .map((d) => d.toISOString().slice(0, 10));
        return fc.string({
          minLength: schema.minLength ?? 0,
          maxLength: Math.min(schema.maxLength ?? 40, 300),
        });
      case 'integer':
        return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1_000_000 });
      case 'number':
        return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(valid(doc, schema.items ?? {}, depth + 1), {
          maxLength: Math.min(schema.maxItems ?? 3, 3),
        });
      case 'object':
      case undefined: {
        if (!schema.properties && schema.type === undefined)
          return fc.oneof(fc.string(), fc.integer(), fc.boolean());
        const props = Object.fromEntries(
          Object.entries(schema.properties ?? {}).map(([k, s]) => [k, valid(doc, s, depth + 1)]),
        );
        const fixed = fc.record(props, { requiredKeys: schema.required ?? [] });
        if (typeof schema.additionalProperties === 'object' && depth < 3) {
          const extra = fc.dictionary(
            fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !/^[$.]/.test(k)),
            valid(doc, schema.additionalProperties, depth + 1),
            { maxKeys: 3 },
          );
          return fc.tuple(fixed, extra).map(([a, b]) => ({ ...b, ...a }));
        }
        return fixed;
      }
      default:
        return fc.constant(null);
    }
  })();
  return schema.nullable ? fc.option(base, { nil: null }) : base;
}

/** Anything at all, and near misses: the wrong type, a too-long string, an operator object. */
const invalid: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ minLength: 300, maxLength: 3000 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    { $ne: null },
    { $gt: '' },
    ['a', 'b'],
    '__proto__',
    "' OR '1'='1",
    '../../',
    '%00',
    '-1',
    '1e309',
  ),
  fc.object({ maxDepth: 2, maxKeys: 4 }),
);

/** The JSON answer, or {} for an empty one (HEAD). */
const parse = (text: string): Record<string, unknown> =>
  text ? (JSON.parse(text) as Record<string, unknown>) : {};

const asText = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

interface Generated {
  method: string;
  path: string;
  route: string;
  headers: Record<string, string>;
  body?: string;
}

/** Now and then a method the document does not list for the path, including ones no route knows. */
const otherMethod = fc.oneof(
  { weight: 9, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'PATCH', 'PUT', 'DELETE', 'OPTIONS', 'HEAD') },
);

function requestsFor(doc: Document): fc.Arbitrary<Generated> {
  const operations: fc.Arbitrary<Generated>[] = [];
  for (const [route, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const params = op.parameters ?? [];
      const paramValues = fc.tuple(
        ...params.map((p) => {
          const good =
            p.in === 'path' && p.name === 'leadId'
              ? fc.oneof(valid(doc, p.schema), fc.constantFrom(...seeded))
              : p.in === 'path' && p.name === 'partnerId'
                ? fc.oneof(valid(doc, p.schema), fc.constant('acme'))
                : valid(doc, p.schema);
          // Optional parameters are left out a third of the time; required ones are dropped now and then too.
          return fc.oneof(
            { weight: 6, arbitrary: good },
            { weight: 3, arbitrary: invalid },
            { weight: p.required ? 1 : 4, arbitrary: fc.constant(undefined) },
          );
        }),
      );
      const key = fc.constantFrom<string | undefined>(
        SOURCE_KEY,
        SOURCE_KEY,
        ADMIN_KEY,
        ADMIN_KEY,
        'wrong-key-0000',
        '',
        undefined,
      );
      const contents = Object.entries(op.requestBody?.content ?? {});
      const body = contents.length
        ? fc.oneof(
            ...contents.map(([type, { schema }]) =>
              fc
                .oneof({ weight: 3, arbitrary: valid(doc, schema) }, { weight: 2, arbitrary: invalid })
                .map((v) => ({ type, value: v })),
            ),
            fc.constantFrom(
              { type: 'application/json', value: '{"broken":' },
              { type: 'text/plain', value: 'hello' },
            ),
          )
        : fc.constant(undefined);
      // A postback for a seeded lead with the partner's real token now and then, so the accepting path runs too.
      const realPostback = fc.option(
        fc.record({
          leadId: fc.constantFrom(...seeded),
          status: fc.constantFrom('approved', 'hold', 'declined', 'lead'),
        }),
        { nil: undefined, freq: 3 },
      );
      operations.push(
        fc
          .tuple(paramValues, key, body, realPostback, otherMethod)
          .map(([values, apiKey, b, lead, other]) => {
            let path = route;
            const query = new URLSearchParams();
            const headers: Record<string, string> = {};
            params.forEach((p, i) => {
              const v = values[i];
              if (p.in === 'path')
                path = path.replace(
                  `{${p.name}}`,
                  encodeURIComponent(v === undefined ? '' : asText(v)) || 'x',
                );
              else if (v === undefined) return;
              else if (p.in === 'query') query.append(p.name, asText(v));
              else if (/^[\t\x20-\x7e]*$/.test(asText(v))) headers[p.name] = asText(v);
            });
            if (route.startsWith('/postback') && method === 'get' && lead) {
              query.set('subid', lead.leadId);
              query.set('status', lead.status);
              query.set('token', TOKEN);
            }
            if (apiKey !== undefined) headers['x-api-key'] = apiKey;
            let text: string | undefined;
            if (b) {
              headers['content-type'] = b.type;
              if (
                b.type === 'application/x-www-form-urlencoded' &&
                typeof b.value === 'object' &&
                b.value !== null
              ) {
                text = new URLSearchParams(
                  Object.entries(b.value).map(([k, v]): [string, string] => [k, asText(v)]),
                ).toString();
              } else
                text =
                  b.type === 'application/json' && typeof b.value !== 'string'
                    ? JSON.stringify(b.value)
                    : asText(b.value);
            }
            const qs = query.toString();
            return {
              method: other ?? method.toUpperCase(),
              route: `${method.toUpperCase()} ${route}`,
              path: qs ? `${path}?${qs}` : path,
              headers,
              body: text,
            };
          }),
      );
    }
  }
  return fc.oneof(...operations);
}

test(`${REQUESTS} requests generated from /openapi.json: no 5xx, refused requests change no data`, async () => {
  const res = await fetch(`${stack.baseUrl}/openapi.json`);
  expect(res.status).toBe(200);
  const doc = (await res.json()) as Document;
  expect(Object.keys(doc.paths).length).toBeGreaterThan(5);

  const leadsBefore = await Lead.countDocuments();
  const effectsBefore = await PostbackClaim.countDocuments();
  const seededBefore = new Map(
    (await Lead.find({ _id: { $in: seeded } }).lean()).map((l) => [l._id, JSON.stringify(l)]),
  );
  const eventsBefore = await StatusEvent.countDocuments({ leadId: { $in: seeded } });
  const startedAt = new Date();
  const leadsCreated = new Set<string>();
  let postbacksApplied = 0;
  const changed = new Set<string>();
  let replaysAccepted = 0;
  const failures: string[] = [];
  const byRoute: Record<string, Record<number, number>> = {};

  // Printed before the run, and part of every failure, so a red run can be repeated with FUZZ_SEED=<seed>.
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  console.log(`openapi fuzz: seed ${seed} (repeat with FUZZ_SEED=${seed})`);
  const samples = fc.sample(requestsFor(doc), { numRuns: REQUESTS, seed });
  // A few at a time, as clients would send them.
  const queue = [...samples];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let g = queue.shift(); g; g = queue.shift()) {
        // undici's request rather than fetch, which refuses to send TRACE.
        const answer = await request(`${stack.baseUrl}${g.path}`, {
          method: g.method as Dispatcher.HttpMethod,
          headers: g.headers,
          body: g.method === 'HEAD' ? undefined : g.body,
        });
        const text = await answer.body.text();
        const r = {
          status: answer.statusCode,
          headers: new Headers(answer.headers as Record<string, string>),
        };
        (byRoute[g.route] ??= {})[r.status] = (byRoute[g.route]![r.status] ?? 0) + 1;
        if (r.status >= 500)
          failures.push(
            `${r.status} ${g.method} ${g.path} ${JSON.stringify(g.headers)} ${g.body?.slice(0, 300) ?? ''} -> ${text.slice(0, 300)}`,
          );
        if (r.status >= 400 && g.method !== 'HEAD') {
          const body = parse(text) as { error?: { code?: string } };
          if (typeof body.error?.code !== 'string')
            failures.push(`${r.status} without an error code: ${g.method} ${g.path}`);
        }
        // A lead is made by a 202 from POST /leads, or by a ping (it fixes its lead's id: the partial lead is
        // stored before its auction); an OPTIONS on those routes also answers 2xx, with no lead in its body.
        const made =
          (g.route === 'POST /leads' && r.status === 202) || (g.route === 'POST /ping' && r.status === 200);
        const madeId = made ? (parse(text) as { leadId?: unknown } | undefined)?.leadId : undefined;
        if (typeof madeId === 'string') leadsCreated.add(madeId);
        if (g.route.startsWith('GET /postback') || g.route.startsWith('POST /postback')) {
          const answer =
            r.status === 200 || r.status === 202
              ? (parse(text) as { ok?: boolean; duplicate?: boolean; leadId: string })
              : undefined;
          // HEAD answers carry no body (and OPTIONS answers are the router's): whether a HEAD applied anything
          // is read from the postback log below.
          if (answer?.ok === true && answer.duplicate === false) {
            postbacksApplied += 1;
            changed.add(answer.leadId);
          }
        }
        if (g.route === 'POST /admin/notifications/replay' && r.status < 300) {
          replaysAccepted += (parse(text) as { replayed?: number }).replayed ?? 0;
        }
      }
    }),
  );
  console.log(
    `openapi fuzz: ${REQUESTS} requests; answers per route ${JSON.stringify(byRoute)}; leads created ${leadsCreated.size}, postbacks applied ${postbacksApplied}`,
  );

  expect({ seed, failures }).toEqual({ seed, failures: [] });
  // Only a 202 from POST /leads or a 200 from POST /ping made a lead; only an applied postback claimed an effect.
  expect((await Lead.countDocuments()) - leadsBefore).toBe(leadsCreated.size);
  // The gateway's own log of what it applied: every applied answer is there, and nothing else claimed an effect.
  const appliedLog = await PostbackLog.find(
    { receivedAt: { $gte: startedAt }, outcome: { $in: ['applied', 'queued'] } },
    { leadId: 1 },
  ).lean();
  expect(appliedLog.length).toBeGreaterThanOrEqual(postbacksApplied);
  for (const l of appliedLog) changed.add(l.leadId!);
  expect((await PostbackClaim.countDocuments()) - effectsBefore).toBe(appliedLog.length);
  if (replaysAccepted === 0) {
    // Seeded leads no applied postback was for are exactly as they were.
    const untouched = seeded.filter((id) => !changed.has(id));
    // Nothing can still change them: no effect was claimed for them (nothing queued to signal), and their
    // workflows never received a signal (Temporal records a signal before the sender's call returns).
    expect(await PostbackClaim.countDocuments({ leadId: { $in: untouched } })).toBe(0);
    for (const id of untouched) {
      const history = await stack.client.workflow.getHandle(leadWorkflowId(id)).fetchHistory();
      expect((history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes)).toEqual([]);
    }
    for (const lead of await Lead.find({ _id: { $in: untouched } }).lean())
      expect(JSON.stringify(lead)).toBe(seededBefore.get(lead._id));
    if (changed.size === 0)
      expect(await StatusEvent.countDocuments({ leadId: { $in: seeded } })).toBe(eventsBefore);
  }
  // The run covered every operation the document lists.
  const operations = Object.entries(doc.paths).flatMap(([p, item]) =>
    Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`),
  );
  expect(Object.keys(byRoute).sort()).toEqual(operations.sort());
}, 180_000);
