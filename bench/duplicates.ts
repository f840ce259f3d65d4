// `npm run bench:duplicates`: lead intake (POST /leads) with the duplicate check on against off, in one run on
// the same servers: two gateways, one per config, fed in alternating blocks so drift hits both alike. Every
// lead is a new person (the check's full cost: both keys hashed and claimed); a second pass posts each person
// again to the checked gateway and counts the 409s. Target: on >= 90% of off (issue 16).
// Options: --leads N (per variant, default 1000) --concurrency N (default 16) --blocks N (default 4)
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'undici';
import * as bench from './lib/ingest-stack';

const LEADS = bench.arg('leads', 1000);
const CONCURRENCY = bench.arg('concurrency', 16);
const BLOCKS = bench.arg('blocks', 4);
const SECRET = 'bench-duplicates-secret-0123456789';

const OFFSET: Record<string, number> = { 'warm-off': 0, 'warm-on': 100_000, off: 200_000, on: 300_000 };

/** A distinct, valid person per variant and index: an email and a US number (exchange 2xx-9xx). */
function person(variant: string, i: number) {
  const n = (OFFSET[variant] ?? 0) + i;
  const line = String(n % 10_000).padStart(4, '0');
  return {
    contact: {
      email: `Person.${variant}.${i}@Example.com`,
      phone: `(212) ${200 + Math.floor(n / 10_000)}-${line}`,
    },
    geo: { country: 'US' },
    vertical: 'auto',
  };
}

async function post(pool: Pool, body: unknown): Promise<number> {
  const res = await pool.request({
    path: '/leads',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': bench.SOURCE_KEY },
    body: JSON.stringify(body),
  });
  await res.body.text();
  return res.statusCode;
}

async function main(): Promise<void> {
  bench.say(
    `duplicates benchmark: ${LEADS} leads per variant in ${BLOCKS} alternating blocks, concurrency ${CONCURRENCY}`,
  );
  const servers = await bench.startBenchServers('duplicates');
  const pools: Pool[] = [];
  const gateways: bench.App[] = [];
  try {
    // No worker: intake stores the lead and starts its workflow, which is all this measures.
    const base = bench.benchConfig('http://127.0.0.1:9/none', 'http://127.0.0.1:9/none', '1h') as Record<
      string,
      unknown
    >;
    const withCheck = {
      ...base,
      settings: {
        ...(base.settings as object),
        duplicates: { window: '30d', keys: ['email', 'phone'], action: 'reject', secret: SECRET },
      },
    };
    // Each gateway its own routing file (appEnv writes <dir>/routing.json, so the checked one goes first).
    const onDir = path.join(servers.dir, 'on');
    fs.mkdirSync(onDir, { recursive: true });
    const onEnv = {
      ...bench.appEnv(servers, 'bench-dup-on', withCheck, 'warn'),
      ROUTING_CONFIG: bench.writeConfig(onDir, withCheck),
    };
    const offEnv = bench.appEnv(servers, 'bench-dup-off', base, 'warn');
    const [off, on] = await Promise.all([
      bench.startApp('gateway-off', 'apps/gateway/main.ts', servers.dir, offEnv, { http: true }),
      bench.startApp('gateway-on', 'apps/gateway/main.ts', servers.dir, onEnv, { http: true }),
    ]);
    gateways.push(off, on);
    const variants = { off, on } as const;
    for (const v of Object.values(variants)) pools.push(new Pool(v.url!, { connections: CONCURRENCY }));
    const [offPool, onPool] = pools as [Pool, Pool];

    // Warm-up: JIT, connections, indexes.
    await bench.runLoad(100, CONCURRENCY, async (i) => void (await post(offPool, person('warm-off', i))));
    await bench.runLoad(100, CONCURRENCY, async (i) => void (await post(onPool, person('warm-on', i))));

    const results: Record<
      'off' | 'on',
      { ok: number; ms: number; latencies: number[]; cpu: number; errors: number }
    > = {
      off: { ok: 0, ms: 0, latencies: [], cpu: 0, errors: 0 },
      on: { ok: 0, ms: 0, latencies: [], cpu: 0, errors: 0 },
    };
    const perBlock = Math.ceil(LEADS / BLOCKS);
    for (let b = 0; b < BLOCKS; b++) {
      const order: ('off' | 'on')[] = b % 2 ? ['on', 'off'] : ['off', 'on'];
      for (const name of order) {
        const pool = name === 'on' ? onPool : offPool;
        const meter = bench.cpuMeter({ gw: [variants[name].process.pid] });
        const r: bench.LoadResult = await bench.runLoad(perBlock, CONCURRENCY, async (i) => {
          const status = await post(pool, person(name, b * perBlock + i));
          if (status !== 202) throw new Error(`HTTP ${status}`);
        });
        const row = results[name];
        row.ok += r.latencies.length;
        row.ms += r.wallMs;
        row.latencies.push(...r.latencies);
        row.errors += r.errors;
        row.cpu += meter.stop().gw ?? 0;
        bench.say(
          `  block ${b + 1} ${name}: ${bench.fmt(bench.throughput(r))} leads/s, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}`,
        );
      }
    }
    // The same people again, at the checked gateway: every one must be refused as a duplicate.
    let refused = 0;
    await bench.runLoad(Math.min(200, LEADS), CONCURRENCY, async (i) => {
      if ((await post(onPool, person('on', i))) === 409) refused++;
    });

    bench.say('');
    bench.say('| duplicate check | leads/s | p50 ms | p99 ms | errors | gateway CPU ms per lead |');
    bench.say('| --------------- | ------: | -----: | -----: | -----: | ----------------------: |');
    for (const name of ['off', 'on'] as const) {
      const row = results[name];
      row.latencies.sort((a, c) => a - c);
      bench.say(
        `| ${name} | ${bench.fmt((row.ok / row.ms) * 1000)} | ${bench.fmt(bench.percentile(row.latencies, 50))} | ${bench.fmt(bench.percentile(row.latencies, 99))} | ${row.errors} | ${bench.fmt((row.cpu / row.ok) * 1000, 2)} |`,
      );
    }
    const ratio = results.on.ok / results.on.ms / (results.off.ok / results.off.ms);
    bench.say('');
    bench.say(`on / off: ${bench.fmt(ratio * 100)}% (target >= 90%): ${ratio >= 0.9 ? 'met' : 'MISSED'}`);
    bench.say(`repeats refused as duplicate_lead: ${refused} of ${Math.min(200, LEADS)}`);
    process.exitCode = ratio >= 0.9 && refused === Math.min(200, LEADS) ? 0 : 1;
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    // The gateways first: left running, they kept this process (and their retries) alive after the servers stopped.
    await Promise.all(gateways.map((g) => g.stop().catch(() => undefined)));
    await servers.stop();
  }
}

bench.runBench(main);
