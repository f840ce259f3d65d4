// docker-compose.yml, the Dockerfile and config/deploy/ read as data (no Docker engine here) and checked against the code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import YAML from 'yaml';
import { loadRoutingConfig, weakProductionSecrets } from '../../shared/config';
import { readEnv } from '../../shared/env';

const root = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  deploy?: { replicas?: number };
}

const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const dockerfile = read('Dockerfile');
const GATEWAYS = ['gateway-1', 'gateway-2'];
const LEADROUTER = [...GATEWAYS, 'worker', 'temporal-setup'];

/** The environment compose would pass: `${X:-default}` gives the default, `${X:?error}` a value the operator set. */
function resolved(name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [
      k,
      String(v)
        .replace(/\$\{\w+:-([^}]*)\}/g, '$1')
        .replace(/\$\{(\w+):\?[^}]*\}/g, 'operator-set-$1-0123456789'),
    ]),
  );
}

/** The relative imports reachable from an entry file: the code a process actually runs. */
function reachable(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  for (const { fileName } of ts.preProcessFile(read(entry)).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.join(path.dirname(entry), fileName);
    const file = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(path.join(root, f)));
    if (file) reachable(file, seen);
  }
  return seen;
}

const PROCESS_ENTRIES = [
  'apps/gateway/main.ts',
  'apps/worker/main.ts',
  'apps/cli/main.ts',
  'workflows/index.ts',
];
const productFiles = [...new Set(PROCESS_ENTRIES.flatMap((e) => [...reachable(e)]))];
const productSource = productFiles.map(read).join('\n');
/** Variables the Temporal SDK's own client configuration reads for us (TEMPORAL_API_KEY, TEMPORAL_TLS_*, ...). */
function readBySdk(name: string): boolean {
  const dir = path.join(root, 'node_modules', '@temporalio', 'envconfig', 'lib');
  if (!fs.existsSync(dir)) return false;
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .some((f) => fs.readFileSync(path.join(dir, f), 'utf8').includes(name));
}

test('the stack: Temporal on PostgreSQL with its setup jobs and UI, MongoDB, two gateways behind a proxy, workers', () => {
  expect(Object.keys(services).sort()).toEqual([
    'gateway-1',
    'gateway-2',
    'mongodb',
    'postgresql',
    'proxy',
    'temporal',
    'temporal-namespace',
    'temporal-schema',
    'temporal-setup',
    'temporal-ui',
    'worker',
  ]);
  expect(services.temporal?.image).toMatch(/^temporalio\/server:\d/);
  expect(services['temporal-schema']?.image).toMatch(/^temporalio\/admin-tools:\d/);
  expect(services['temporal-namespace']?.image).toBe(services['temporal-schema']?.image);
  expect(services['temporal-ui']?.image).toMatch(/^temporalio\/ui:\d/);
  expect(services.mongodb?.image).toMatch(/^mongo:\d/);
  expect(services.proxy?.image).toMatch(/^nginx:\d/);
  expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  expect(services.worker?.deploy?.replicas).toBe(2);
  // Data survives `docker compose down`: named volumes for both stores.
  expect(services.postgresql?.volumes).toContain('temporal-postgres:/var/lib/postgresql/data');
  expect(services.mongodb?.volumes).toContain('mongo-data:/data/db');
  expect(Object.keys(compose.volumes).sort()).toEqual(['mongo-data', 'temporal-postgres']);
});

test('files compose mounts exist: schema script, dynamic config, proxy config, the routing config directory', () => {
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      const [source, target] = volume.split(':');
      if (!source?.startsWith('./')) continue;
      expect({ name, source, exists: fs.existsSync(path.join(root, source)) }).toEqual({
        name,
        source,
        exists: true,
      });
      expect({ name, target, readOnly: volume.endsWith(':ro') }).toEqual({ name, target, readOnly: true });
    }
  }
  expect(services['temporal-schema']?.command).toEqual(['/deploy/setup-postgres.sh']);
  expect(read('config/deploy/temporal/setup-postgres.sh')).toMatch(
    /update-schema -d "\/etc\/temporal\/schema\/postgresql\/v12/,
  );
  const dynamic = String(services.temporal?.environment?.DYNAMIC_CONFIG_FILE_PATH);
  expect(fs.existsSync(path.join(root, 'config/deploy/temporal/dynamicconfig', path.basename(dynamic)))).toBe(
    true,
  );
});

test('published ports: the proxy on 3000, Temporal 7233, UI 8080 and 8233, MongoDB 27017; gateways and workers none', () => {
  const published = (name: string) => (services[name]?.ports ?? []).map((p) => p.split(':')[0]);
  expect(published('proxy')).toEqual(['3000']);
  expect(published('temporal')).toEqual(['7233']);
  expect(published('temporal-ui').sort()).toEqual(['8080', '8233']);
  expect(services['temporal-ui']?.ports?.every((p) => p.endsWith(':8080'))).toBe(true);
  expect(published('mongodb')).toEqual(['27017']);
  for (const name of [...GATEWAYS, 'worker'])
    expect({ name, ports: published(name) }).toEqual({ name, ports: [] });
});

test('the proxy sends to every gateway on the port it listens on, and the gateways trust exactly that one hop', () => {
  const nginx = read('config/deploy/nginx.conf');
  const upstream = [...nginx.matchAll(/^\s*server\s+([\w-]+):(\d+)/gm)].map((m) => [m[1], Number(m[2])]);
  expect(upstream).toEqual(GATEWAYS.map((g) => [g, readEnv(resolved(g)).PORT]));
  expect(nginx).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
  expect(services.proxy?.ports).toEqual([`3000:${/listen (\d+);/.exec(nginx)?.[1]}`]);
  expect(services.proxy?.volumes).toContain('./config/deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro');
  // The client is the address nginx appended: exactly one hop from the right (SPEC, "Client address").
  for (const name of GATEWAYS) expect(readEnv(resolved(name)).TRUST_PROXY).toBe(1);
});

test('every variable compose sets on a leadrouter process is one the code reads, and parses', () => {
  for (const name of LEADROUTER) {
    for (const key of Object.keys(services[name]?.environment ?? {})) {
      const read = new RegExp(`\\b${key}\\b`).test(productSource) || readBySdk(key);
      expect({ service: name, key, read }).toEqual({ service: name, key, read: true });
    }
    expect(() => readEnv(resolved(name))).not.toThrow();
  }
  expect(services.gateway?.environment).toBeUndefined();
  expect(services['temporal-setup']?.command).toEqual([
    'node',
    'bin/leadrouter.js',
    'temporal',
    'setup',
    '--wait',
    '180',
  ]);
  expect(read('apps/cli/main.ts')).toMatch(/temporal setup \[--wait seconds\]/);
});

test('gateways and workers get what they need: Temporal, MongoDB, the mounted routing config, the admin key', () => {
  for (const name of [...GATEWAYS, 'worker']) {
    const env = resolved(name);
    expect(env).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'leads',
    });
    expect(env.MONGODB_URI).toMatch(/^mongodb:\/\/mongodb:27017\/\w+\?replicaSet=rs0$/);
    // The config comes from the operator's mount, never from the image.
    const mount = services[name]?.volumes?.find((v) => v.endsWith(':/etc/leadrouter:ro'));
    expect(mount).toBe('./config/deploy/config:/etc/leadrouter:ro');
    expect(env.ROUTING_CONFIG).toBe('/etc/leadrouter/routing.yaml');
  }
  // Compose itself refuses to start without the secrets rather than run with a default one.
  for (const name of GATEWAYS)
    expect(String(services[name]?.environment?.ADMIN_API_KEY)).toMatch(/^\$\{ADMIN_API_KEY:\?.+\}$/);
  for (const name of [...GATEWAYS, 'worker'])
    expect(String(services[name]?.environment?.DUPLICATES_SECRET)).toMatch(/^\$\{DUPLICATES_SECRET:\?.+\}$/);
  for (const env of Object.values(services).map((s) => JSON.stringify(s.environment ?? {})))
    expect(env).not.toMatch(/change-me/i);
});

test('the example routing config is refused in production until every change-me is replaced', () => {
  const example = path.join(root, 'config/deploy/config/routing.example.yaml');
  expect(() => loadRoutingConfig(example, { NODE_ENV: 'production' })).toThrow(/change-me/);
  const filled = read('config/deploy/config/routing.example.yaml').replace(
    /change-me[\w-]*/g,
    (m) => `${m.slice(10)}-Xk3v9Qa2LmP0`,
  );
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-')), 'routing.yaml');
  fs.writeFileSync(file, filled);
  const config = loadRoutingConfig(file, { NODE_ENV: 'production' });
  expect(weakProductionSecrets(config, resolved('gateway-1'))).toEqual([]);
  // The filled-in copy holds real keys: it must never be committed.
  expect(read('.gitignore').split('\n')).toContain('config/deploy/config/routing.yaml');
});

test('startup order: schema, server, namespace, search attributes, then gateways and workers', () => {
  for (const name of [...GATEWAYS, 'worker']) {
    expect(services[name]?.depends_on).toEqual({
      mongodb: { condition: 'service_healthy' },
      temporal: { condition: 'service_healthy' },
      'temporal-setup': { condition: 'service_completed_successfully' },
    });
  }
  expect(services['temporal-schema']?.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  expect(services.temporal?.depends_on).toEqual({
    'temporal-schema': { condition: 'service_completed_successfully' },
  });
  expect(services['temporal-namespace']?.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  expect(services['temporal-setup']?.depends_on).toEqual({
    'temporal-namespace': { condition: 'service_completed_successfully' },
  });
});

test('probes: gateways on /readyz, workers on /healthz, paths and ports their code serves', () => {
  for (const name of ['postgresql', 'temporal', 'mongodb', 'proxy', ...GATEWAYS, 'worker']) {
    expect({ name, test: Boolean(services[name]?.healthcheck?.test) }).toEqual({ name, test: true });
  }
  const probe = (name: string) =>
    /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(JSON.stringify(services[name]?.healthcheck?.test));
  const gatewaySource = productFiles
    .filter((f) => f.startsWith('apps/gateway/'))
    .map(read)
    .join('\n');
  for (const name of GATEWAYS) {
    const [, port, route] = probe(name) ?? [];
    expect(route).toBe('/readyz');
    expect(Number(port)).toBe(readEnv(resolved(name)).PORT);
    expect(gatewaySource).toContain(`'${route}'`);
  }
  const [, port, route] = probe('worker') ?? [];
  expect(Number(port)).toBe(readEnv(resolved('worker')).METRICS_PORT);
  expect(read('apps/worker/metrics.ts')).toContain(`'${route}'`);
  expect(JSON.stringify(services.proxy?.healthcheck?.test)).toContain(
    `127.0.0.1${probe(GATEWAYS[0] as string)?.[2]}"`,
  );
  expect(services.mongodb?.command).toEqual(['mongod', '--replSet', 'rs0', '--bind_ip_all']);
  expect(JSON.stringify(services.mongodb?.healthcheck?.test)).toContain("rs.initiate({ _id: 'rs0'");
});

test('the image: tsc in a build stage, compiled product code only, production mode, no config, not root', () => {
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)$/gim)].map((m) => m[2]);
  expect(stages).toEqual(['deps', 'build', 'prod-deps', 'runtime']);
  expect(dockerfile.split('\n')[0]).toBe('# syntax=docker/dockerfile:1');
  expect(dockerfile).toMatch(/^RUN npm run build$/m);
  expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
  // The project's patches to its dependencies (patches/, applied by npm ci's postinstall) reach the image: the deps
  // stage has them before its npm ci, and the production dependencies take each patched package from it.
  const deps = dockerfile.slice(0, dockerfile.search(/^FROM .* AS build$/m));
  expect(deps.search(/^COPY patches patches$/m)).toBeGreaterThan(0);
  expect(deps.search(/^COPY patches patches$/m)).toBeLessThan(deps.search(/^RUN npm ci/m));
  const prodDeps = dockerfile.slice(
    dockerfile.search(/^FROM .* AS prod-deps$/m),
    dockerfile.search(/^FROM .* AS runtime$/m),
  );
  const patched = fs
    .readdirSync(path.join(root, 'patches'))
    .map((f) => f.replace(/\+[^+]+\.patch$/, '').replace('+', '/'));
  expect(patched.length).toBeGreaterThan(0);
  for (const pkg of patched)
    expect(prodDeps).toMatch(
      new RegExp(`^COPY --from=deps /app/node_modules/${pkg} node_modules/${pkg}$`, 'm'),
    );
  expect(JSON.parse(read('package.json')).scripts.postinstall).toBe('patch-package');
  // Every folder the build config compiles is copied into the build stage.
  const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
  for (const dir of build.include) expect(dockerfile).toMatch(new RegExp(`^COPY ${dir} ${dir}$`, 'm'));

  const runtime = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));
  const copied = [...runtime.matchAll(/^COPY (?:--from=(\S+) )?(\S+) (\S+)$/gm)].map((m) => ({
    from: m[1],
    source: m[2] as string,
    target: m[3] as string,
  }));
  // And the workflow bundle the build keeps for the compiled workflows (apps/worker/bundle.ts).
  expect(JSON.parse(read('package.json')).scripts.build).toMatch(/&& node dist\/apps\/worker\/bundle\.js$/);
  expect(copied).toContainEqual({ from: 'build', source: '/app/dist/.cache', target: 'dist/.cache' });
  const distDirs = copied
    .filter((c) => c.from === 'build' && c.target !== 'dist/.cache')
    .map((c) => c.target);
  // Exactly the folders the processes' code lives in: reached from their entry files, nothing else.
  const needed = [
    ...new Set(
      productFiles.map(
        (f) =>
          `dist/${path
            .dirname(f)
            .split('/')
            .slice(0, f.startsWith('apps/') ? 2 : 1)
            .join('/')}`,
      ),
    ),
  ];
  expect(distDirs.sort()).toEqual(needed.sort());
  for (const c of copied.filter((c) => c.from === 'build')) expect(c.source).toBe(`/app/${c.target}`);
  expect(copied.filter((c) => !c.from).map((c) => c.source)).toEqual(['package.json', 'bin']);
  expect(copied.find((c) => c.from === 'prod-deps')).toEqual({
    from: 'prod-deps',
    source: '/app/node_modules',
    target: 'node_modules',
  });
  expect(productFiles.some((f) => /^(test|bench|scripts|tools|apps\/dev)\//.test(f))).toBe(false);

  expect(runtime).toMatch(/NODE_ENV=production/);
  const routingConfig = /ROUTING_CONFIG=(\S+)/.exec(runtime)?.[1];
  expect(routingConfig).toBe('/etc/leadrouter/routing.yaml');
  expect(runtime).toMatch(/^USER node$/m);
  expect(runtime).toMatch(/^CMD \["node", "dist\/apps\/gateway\/main\.js"\]$/m);
  expect(runtime).not.toMatch(/tsx/);
  for (const name of LEADROUTER) expect(JSON.stringify(services[name]?.command)).not.toMatch(/tsx|\.ts"/);

  const ignore = read('.dockerignore').split('\n');
  for (const entry of ['node_modules', 'dist', '.git', '.env', 'config', 'scripts', 'test', 'bench'])
    expect(ignore).toContain(entry);
  // The runtime's dependencies hold no test tooling.
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
  expect(Object.keys(pkg.dependencies)).not.toContain('@temporalio/testing');
  expect(Object.keys(pkg.dependencies).filter((d) => /jest|eslint|prettier|fast-check/.test(d))).toEqual([]);
});
