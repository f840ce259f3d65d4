// `leadrouter` command line: a lead's journey, lead search, performance reports, notification replay, config check.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadRoutingConfig } from '../../shared/config';
import { unknownMacros } from '../../shared/macros';
import type { ReplayTarget } from '../../shared/http';
import { describeTarget, temporalTarget } from '../../shared/temporal-connection';
import { AdminApi, CliError } from './api';
import { progress } from './progress';
import { parseDuration } from '../../shared/duration';
import { formatPerformance, formatPostbacks, formatRefusals } from './report';
import { registerSearchAttributes } from './search-attributes';
import { formatSuppression, suppressionBody } from './suppress';
import { formatJourney } from './timeline';

export interface Io {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

const USAGE = `usage: leadrouter <command> [options]

commands:
  lead <leadId> [--json]                 a lead's journey as a timeline
  leads [--status s] [--partner p] [--source s] [--from t] [--to t] [--limit n] [--all]
                                         search leads, newest first
  postbacks [--partner p] [--refused | --outcome o] [--code c] [--since 1h | --from t] [--to t] [--limit n] [--all]
                                         the postback log, newest first, then refusals per partner and code
  report [--by partner|source] [--from t] [--to t] [--json]
                                         partner (default) or source performance as a table
  report --chart <partner> --out <file.svg> [--from t] [--to t]
                                         the partner's accepted/rejected/expired per day as an SVG chart
  replay --lead <leadId> --status <s>    replay one exhausted source notification
  replay [--source s] [--status s] [--from t] [--to t] [--dry-run]
                                         replay every exhausted notification matching the filter
  suppress [--email e]... [--phone p]... [--hash h]... [--file list]... [--country CC] [--reason text]
                                         never deliver these people (hashed by the gateway)
  config check [file]                    validate a routing config (default: $ROUTING_CONFIG or config/routing.yaml)
  temporal setup [--wait seconds]        register the LeadStatus, PartnerId, SourceId, WinningBidCents,
                                         WinningBidCurrency search attributes
                                         (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY,
                                         TEMPORAL_PROFILE; idempotent)

options for commands that talk to the gateway:
  --url <url>         gateway base URL (env LEADROUTER_URL, default http://127.0.0.1:3000)
  --admin-key <key>   admin API key (env LEADROUTER_ADMIN_KEY)
`;

const OPTIONS = {
  url: { type: 'string' },
  'admin-key': { type: 'string' },
  json: { type: 'boolean' },
  lead: { type: 'string' },
  status: { type: 'string' },
  source: { type: 'string' },
  partner: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  wait: { type: 'string' },
  by: { type: 'string' },
  chart: { type: 'string' },
  out: { type: 'string' },
  refused: { type: 'boolean' },
  outcome: { type: 'string' },
  code: { type: 'string' },
  since: { type: 'string' },
  email: { type: 'string', multiple: true },
  phone: { type: 'string', multiple: true },
  hash: { type: 'string', multiple: true },
  file: { type: 'string', multiple: true },
  country: { type: 'string' },
  reason: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function api(values: Values, env: NodeJS.ProcessEnv): AdminApi {
  return new AdminApi(
    values.url ?? env.LEADROUTER_URL ?? 'http://127.0.0.1:3000',
    values['admin-key'] ?? env.LEADROUTER_ADMIN_KEY,
  );
}

async function leadCommand(values: Values, args: string[], io: Io): Promise<number> {
  const leadId = args[0];
  if (!leadId) throw new CliError('usage: leadrouter lead <leadId>', 2);
  const journey = await api(values, io.env).journey(leadId);
  io.out.write(
    values.json
      ? `${JSON.stringify(journey, null, 2)}\n`
      : `${formatJourney(journey, Boolean(io.out.isTTY))}\n`,
  );
  return 0;
}

async function leadsCommand(values: Values, io: Io): Promise<number> {
  const client = api(values, io.env);
  let cursor: string | undefined;
  let count = 0;
  do {
    const page = await client.listLeads({
      status: values.status,
      partnerId: values.partner,
      sourceId: values.source,
      from: values.from,
      to: values.to,
      limit: values.limit,
      cursor,
    });
    for (const l of page.leads) {
      io.out.write(
        values.json
          ? `${JSON.stringify(l)}\n`
          : `${l.createdAt}  ${l.leadId.padEnd(24)}  ${l.status.padEnd(9)}  ${l.sourceId}  ${l.partnerId ?? '-'}  ${l.payout ? `${l.payout} ${l.currency ?? ''}` : ''}\n`,
      );
    }
    count += page.leads.length;
    cursor = page.nextCursor;
    if (cursor && !values.all) io.err.write(`more: --all for every page\n`);
  } while (cursor && values.all);
  if (!values.json) io.err.write(`${count} lead(s)\n`);
  return 0;
}

async function postbacksCommand(values: Values, io: Io): Promise<number> {
  const client = api(values, io.env);
  let from = values.from;
  if (values.since) {
    let ms: number;
    try {
      ms = parseDuration(values.since);
    } catch {
      throw new CliError('--since takes a duration like 15m, 1h, 2d', 2);
    }
    from = new Date(Date.now() - ms).toISOString();
  }
  const window = { partnerId: values.partner, from, to: values.to };
  const outcome = values.refused ? 'refused' : values.outcome;
  let cursor: string | undefined;
  let count = 0;
  do {
    const page = await client.postbacks({
      ...window,
      outcome,
      code: values.code,
      limit: values.limit,
      cursor,
    });
    const lines = values.json
      ? page.postbacks.map((p) => JSON.stringify(p))
      : formatPostbacks(page.postbacks);
    for (const line of lines) io.out.write(`${line}\n`);
    count += page.postbacks.length;
    cursor = page.nextCursor;
    if (cursor && !values.all) io.err.write(`more: --all for every page\n`);
  } while (cursor && values.all);
  if (!values.json) {
    io.err.write(`${count} postback(s)\n`);
    io.out.write(`\n${formatRefusals(await client.refusals(window))}\n`);
  }
  return 0;
}

async function reportCommand(values: Values, io: Io): Promise<number> {
  if (values.chart) {
    if (!values.out) throw new CliError('report --chart needs --out <file.svg>', 2);
    const svg = await api(values, io.env).chart(values.chart, { from: values.from, to: values.to });
    fs.writeFileSync(values.out, svg);
    io.out.write(`wrote ${values.out} (${svg.length} bytes)\n`);
    return 0;
  }
  const by = values.by ?? 'partner';
  if (by !== 'partner' && by !== 'source') throw new CliError('report --by takes partner or source', 2);
  const report = await api(values, io.env).performance(by, { from: values.from, to: values.to });
  io.out.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatPerformance(report)}\n`);
  return 0;
}

async function replayCommand(values: Values, io: Io): Promise<number> {
  const client = api(values, io.env);
  if (values.lead) {
    if (!values.status)
      throw new CliError('replay --lead needs --status (the notification to send again)', 2);
    const r = await client.replay({ leadId: values.lead, status: values.status });
    io.out.write(
      `replayed ${values.status} notification of lead ${values.lead} (${r.replayed} signal sent)\n`,
    );
    return 0;
  }
  const filter = { sourceId: values.source, status: values.status, from: values.from, to: values.to };
  const found = await client.replay({
    ...filter,
    dryRun: true,
    ...(values.limit ? { limit: Number(values.limit) } : {}),
  });
  io.out.write(`${found.matched} exhausted notification(s) match\n`);
  if (values['dry-run'] || !found.targets.length) {
    for (const t of found.targets) io.out.write(`  ${t.leadId}  ${t.status}\n`);
    return 0;
  }
  // One request per notification, so a long replay shows progress and one failure does not stop the rest.
  const bar = progress(io.err, found.targets.length, 'replaying');
  const failed: (ReplayTarget & { error: string })[] = [];
  for (const t of found.targets) {
    try {
      await client.replay({ leadId: t.leadId, status: t.status });
      bar.tick();
    } catch (err) {
      failed.push({ ...t, error: (err as Error).message });
      bar.tick(`failed: ${t.leadId}`);
    }
  }
  bar.done();
  io.out.write(`replayed ${found.targets.length - failed.length}/${found.targets.length}\n`);
  for (const f of failed) io.out.write(`  failed ${f.leadId} ${f.status}: ${f.error}\n`);
  return failed.length ? 1 : 0;
}

function configCommand(args: string[], io: Io): number {
  if (args[0] !== 'check') throw new CliError('usage: leadrouter config check [file]', 2);
  const file = args[1] ?? io.env.ROUTING_CONFIG ?? 'config/routing.yaml';
  try {
    const cfg = loadRoutingConfig(file, io.env);
    io.out.write(
      `${file}: ok (${cfg.partners.length} partner(s): ${cfg.partners.map((p) => p.id).join(', ')}; ${cfg.sources.length} source(s): ${cfg.sources.map((s) => s.id).join(', ')})\n`,
    );
    for (const warning of unknownMacros(cfg.sources)) io.err.write(`  warning: ${warning}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err.write(
      `${file}: ${err.problems.length} problem(s)\n${err.problems.map((p) => `  ${p}\n`).join('')}`,
    );
    return 1;
  }
}

async function temporalCommand(values: Values, args: string[], io: Io): Promise<number> {
  if (args[0] !== 'setup') throw new CliError('usage: leadrouter temporal setup [--wait seconds]', 2);
  const waitSeconds = Number(values.wait ?? 0);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
    throw new CliError('--wait takes a number of seconds', 2);
  const target = temporalTarget(io.env);
  io.out.write(`search attributes on ${describeTarget(target)}:\n`);
  await registerSearchAttributes({
    target,
    waitMs: waitSeconds * 1000,
    log: (line) => io.out.write(`  ${line}\n`),
  });
  return 0;
}

export async function main(
  argv: string[],
  io: Io = { out: process.stdout, err: process.stderr, env: process.env },
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.err.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (command || values.help ? io.out : io.err).write(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'lead':
        return await leadCommand(values, rest, io);
      case 'leads':
        return await leadsCommand(values, io);
      case 'postbacks':
        return await postbacksCommand(values, io);
      case 'report':
        return await reportCommand(values, io);
      case 'replay':
        return await replayCommand(values, io);
      case 'suppress':
        io.out.write(formatSuppression(await api(values, io.env).suppress(suppressionBody(values))));
        return 0;
      case 'config':
        return configCommand(rest, io);
      case 'temporal':
        return await temporalCommand(values, rest, io);
      default:
        io.err.write(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    io.err.write(`leadrouter: ${err.message}\n`);
    return err.exitCode;
  }
}
