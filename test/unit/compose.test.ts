// docker-compose.yml and the Dockerfile, read as data (no Docker engine here): services, ports, env, healthchecks, stages.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { readEnv } from '../../shared/env';

const root = path.join(__dirname, '..', '..');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
}

const compose = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');

test('the stack has Temporal with a persistence store and its UI, MongoDB, the setup job, gateway and worker', () => {
  expect(Object.keys(services).sort()).toEqual([
    'gateway',
    'mongodb',
    'postgresql',
    'temporal',
    'temporal-setup',
    'temporal-ui',
    'worker',
  ]);
  expect(services.temporal?.image).toMatch(/^temporalio\/auto-setup:\d/);
  expect(services['temporal-ui']?.image).toMatch(/^temporalio\/ui:\d/);
  expect(services.mongodb?.image).toMatch(/^mongo:\d/);
  expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  // Data survives `docker compose down`: named volumes for both stores.
  expect(services.postgresql?.volumes).toContain('temporal-postgres:/var/lib/postgresql/data');
  expect(services.mongodb?.volumes).toContain('mongo-data:/data/db');
  expect(Object.keys(compose.volumes).sort()).toEqual(['mongo-data', 'temporal-postgres']);
});

test('published ports: gateway 3000, Temporal 7233, UI 8080 and 8233, MongoDB 27017, worker metrics 9464', () => {
  const published = (name: string) => (services[name]?.ports ?? []).map((p) => p.split(':')[0]);
  expect(published('gateway')).toEqual(['3000']);
  expect(published('temporal')).toEqual(['7233']);
  expect(published('temporal-ui').sort()).toEqual(['8080', '8233']);
  expect(services['temporal-ui']?.ports?.every((p) => p.endsWith(':8080'))).toBe(true);
  expect(published('mongodb')).toEqual(['27017']);
  expect(published('worker')).toEqual(['9464']);
});

test('gateway and worker get the SPEC environment, valid by the processes own env schema', () => {
  for (const name of ['gateway', 'worker']) {
    const env = services[name]?.environment ?? {};
    for (const key of [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'MONGODB_URI',
      'ROUTING_CONFIG',
    ]) {
      expect({ service: name, key, set: key in env }).toEqual({ service: name, key, set: true });
    }
    expect(env).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_TASK_QUEUE: 'leads',
      TEMPORAL_NAMESPACE: 'default',
    });
    expect(String(env.MONGODB_URI)).toMatch(/^mongodb:\/\/mongodb:27017\/\w+\?replicaSet=rs0$/);
    // `${ADMIN_API_KEY:-default}` is what compose would substitute without the variable set.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1')]),
    );
    expect(() => readEnv(resolved)).not.toThrow();
    expect(services[name]?.volumes).toContain('./config:/app/config:ro');
    expect(String(env.ROUTING_CONFIG)).toMatch(/^\/app\/config\//);
  }
  expect(services.gateway?.environment?.PORT).toBe(3000);
  expect(services.worker?.environment?.METRICS_PORT).toBe(9464);
  expect(services.gateway?.command).toEqual(['node', 'dist/apps/gateway/main.js']);
  expect(services.worker?.command).toEqual(['node', 'dist/apps/worker/main.js']);
});

test('startup order: stores healthy and search attributes registered before gateway and worker', () => {
  for (const name of ['gateway', 'worker']) {
    expect(services[name]?.depends_on).toEqual({
      mongodb: { condition: 'service_healthy' },
      temporal: { condition: 'service_healthy' },
      'temporal-setup': { condition: 'service_completed_successfully' },
    });
  }
  expect(services['temporal-setup']?.command).toEqual([
    'node',
    'bin/leadrouter.js',
    'temporal',
    'setup',
    '--wait',
    '180',
  ]);
  expect(services['temporal-setup']?.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  expect(services.temporal?.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
});

test('long-running services have healthchecks; MongoDB initiates its replica set', () => {
  for (const name of ['postgresql', 'temporal', 'mongodb', 'gateway', 'worker']) {
    expect({ name, test: Boolean(services[name]?.healthcheck?.test) }).toEqual({ name, test: true });
  }
  expect(services.gateway?.healthcheck?.test).toEqual(
    expect.arrayContaining([expect.stringContaining('127.0.0.1:3000/healthz')]),
  );
  expect(services.worker?.healthcheck?.test).toEqual(
    expect.arrayContaining([expect.stringContaining('127.0.0.1:9464/healthz')]),
  );
  expect(services.mongodb?.command).toEqual(['mongod', '--replSet', 'rs0', '--bind_ip_all']);
  expect(JSON.stringify(services.mongodb?.healthcheck?.test)).toContain("rs.initiate({ _id: 'rs0'");
});

test('the Dockerfile builds with tsc in one stage and runs node on dist in a slim one', () => {
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)$/gim)].map((m) => m[2]);
  expect(stages).toEqual(['deps', 'build', 'prod-deps', 'runtime']);
  expect(dockerfile.split('\n')[0]).toBe('# syntax=docker/dockerfile:1');
  expect(dockerfile).toMatch(/^RUN npm run build$/m);
  expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
  expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist dist$/m);
  expect(dockerfile).toMatch(/^COPY --from=prod-deps \/app\/node_modules node_modules$/m);
  expect(dockerfile).toMatch(/^USER node$/m);
  expect(dockerfile).toMatch(/^CMD \["node", "dist\/apps\/gateway\/main\.js"\]$/m);
  // Every source folder the build config compiles is copied into the build stage.
  const build = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as {
    include: string[];
  };
  for (const dir of build.include) expect(dockerfile).toMatch(new RegExp(`^COPY ${dir} ${dir}$`, 'm'));
  // The commands compose runs exist in the source the image compiles.
  for (const file of [
    'apps/gateway/main.ts',
    'apps/worker/main.ts',
    'apps/cli/main.ts',
    'bin/leadrouter.js',
  ]) {
    expect({ file, exists: fs.existsSync(path.join(root, file)) }).toEqual({ file, exists: true });
  }
  const ignore = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', '.git', '.env']) expect(ignore).toContain(entry);
});
