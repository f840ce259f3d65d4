// The OpenAPI document is valid OpenAPI 3 and documents exactly the routes the Koa app serves.
import SwaggerParser from '@apidevtools/swagger-parser';
import type Router from '@koa/router';
import { createGateway } from '../../apps/gateway/app';
import { openApiDocument, renderDocsHtml } from '../../apps/gateway/openapi';
import { TemporalClient } from '../../apps/gateway/temporal';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';

function app() {
  const config = new ConfigIndex(
    parseRoutingConfig({
      partners: [
        { id: 'acme', delivery: { url: 'http://127.0.0.1:9/leads' }, postback: { token: 'acme-token-123' } },
      ],
      sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
    }),
  );
  // Never connected: building the app does no I/O.
  const temporal = new TemporalClient({ address: '127.0.0.1:9', namespace: 'default', taskQueue: 'unused' });
  return createGateway({
    config: () => config,
    temporal,
    logger: createLogger('test', 'silent'),
    metrics: createMetrics(),
    adminKey: 'admin-key-0123456789abcdef',
  });
}

/** "METHOD /path/{param}" for every route of every router the app mounts. */
function appRoutes(): string[] {
  const routes = new Set<string>();
  for (const mw of app().middleware as { router?: Router }[]) {
    for (const layer of mw.router?.stack ?? []) {
      for (const method of layer.methods) {
        if (method === 'HEAD') continue; // Koa's router answers HEAD for every GET
        routes.add(`${method} ${String(layer.path).replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
      }
    }
  }
  return [...routes].sort();
}

function documentedRoutes(): string[] {
  const doc = openApiDocument();
  return Object.entries(doc.paths ?? {})
    .flatMap(([path, item]) => Object.keys(item as object).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

test('the document is valid OpenAPI 3', async () => {
  // The validator dereferences in place: give it a copy.
  const doc = JSON.parse(JSON.stringify(openApiDocument())) as Parameters<typeof SwaggerParser.validate>[0];
  await expect(SwaggerParser.validate(doc)).resolves.toBeDefined();
  expect(openApiDocument().openapi).toMatch(/^3\./);
});

test('documented paths are exactly the routes the app serves', () => {
  const served = appRoutes();
  expect(served.length).toBeGreaterThanOrEqual(14);
  expect(documentedRoutes()).toEqual(served);
});

test('every operation documents a success answer, and routes with auth document 401 and 403', () => {
  for (const [path, item] of Object.entries(openApiDocument().paths ?? {})) {
    for (const [method, op] of Object.entries(
      item as Record<string, { responses: Record<string, unknown>; security?: unknown[] }>,
    )) {
      const codes = Object.keys(op.responses);
      expect({ route: `${method} ${path}`, ok: codes.some((c) => c.startsWith('2')) }).toEqual({
        route: `${method} ${path}`,
        ok: true,
      });
      if (op.security)
        expect({
          route: `${method} ${path}`,
          codes: codes.filter((c) => c === '401' || c === '403'),
        }).toEqual({ route: `${method} ${path}`, codes: ['401', '403'] });
    }
  }
});

test('schemas come from the zod request schemas (constraints carried over)', () => {
  const doc = openApiDocument();
  const schemas = doc.components?.schemas as Record<
    string,
    { properties?: Record<string, { pattern?: string; enum?: string[] }>; required?: string[] }
  >;
  expect(schemas.LeadInput?.properties?.leadId?.pattern).toBe('^[A-Za-z0-9_-]{6,64}$');
  expect(schemas.PostbackParams?.required).toEqual(['subid']);
  const postback = doc.paths?.['/postback']?.get as { parameters: { name: string; in: string }[] };
  expect(postback.parameters.filter((p) => p.in === 'query').map((p) => p.name)).toEqual([
    'subid',
    'status',
    'payout',
    'currency',
    'txid',
    'token',
    'ts',
    'test',
  ]);
  const list = doc.paths?.['/admin/leads']?.get as { parameters: { name: string }[] };
  expect(list.parameters.map((p) => p.name).sort()).toEqual([
    'cursor',
    'from',
    'limit',
    'partnerId',
    'sourceId',
    'status',
    'to',
  ]);
});

test('the reference page lists every operation and loads nothing from elsewhere', () => {
  const html = renderDocsHtml(openApiDocument());
  for (const route of documentedRoutes()) {
    const [method, path] = route.split(' ') as [string, string];
    expect(html).toContain(`${method}</span> ${path.replace(/&/g, '&amp;')}`);
  }
  expect(html).not.toMatch(/<script|<link|src=|https?:\/\//i);
});
