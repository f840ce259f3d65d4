// The routing config (partners and sources): one zod schema, loaded from YAML or JSON and validated at start-up.
// Long on purpose: the whole config is one schema (the single source of truth the SPEC asks for), with its
// cross-field checks; docs/configuration.md lists every key and a test keeps the two in step.
import { readFileSync } from 'node:fs';
import { RE2JS } from 're2js';
import { z } from 'zod';
import YAML from 'yaml';
import { amountSchema, currencySchema, toCents } from './money';
import { durationSchema } from './duration';
import { IDENTITY_KINDS } from './identity';
import { POSTBACK_STATUSES } from './statuses';
import { secretDigest } from './signature';
import { MAX_AUCTION_TIMEOUT_MS } from './temporal';
import { normalizeRawStatus } from './status-map';

const postbackStatusSchema = z.enum(POSTBACK_STATUSES);
const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "_", "." or "-"');
const httpUrl = z.url({ protocol: /^https?$/ });
const statusMapSchema = z
  .record(z.string().min(1), postbackStatusSchema)
  .transform((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [normalizeRawStatus(k), v])));
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/**
 * A bad pattern or time zone would otherwise surface as an activity retrying forever on every lead. Patterns
 * run on RE2 (linear time) against partner bodies, so backreferences and lookaround are refused here.
 */
function compiles(pattern: string): boolean {
  try {
    RE2JS.compile(pattern);
    return true;
  } catch {
    return false;
  }
}
const patternSchema = z
  .string()
  .min(1)
  .refine(compiles, 'must be a valid RE2 regular expression (no backreferences or lookaround)');
const timeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as "America/New_York"');

export const deliverySchema = z.object({
  url: httpUrl,
  method: z.enum(['POST', 'PUT', 'GET']).default('POST'),
  format: z.enum(['json', 'form']).default('json'),
  timeoutMs: z.number().int().min(100).max(120_000).default(5000),
  headers: z.record(z.string(), z.string()).default({}),
  /** Attempts on transport errors, timeouts and 5xx before the lead moves on to the next partner. */
  maxAttempts: z.number().int().min(1).max(20).default(5),
  /** The field our leadId is sent in: the subid the partner must echo back. */
  subidField: z.string().min(1).default('subid'),
  /** The field the winning bid's ping id is posted in (ping-post partners). */
  pingIdField: z.string().min(1).default('pingId'),
});

/**
 * Ping-post (docs/routing.md "Auctions"): the partner is first pinged with a few fields of the lead and answers
 * with a bid; the full lead is posted (`delivery`) only if its bid wins. `fields` are dot paths of the lead
 * (`vertical`, `geo.state`, `data.loanAmount`): nothing else leaves, contact data only when listed.
 */
export const pingSchema = z
  .object({
    url: httpUrl,
    method: z.enum(['POST', 'GET']).default('POST'),
    format: z.enum(['json', 'form']).default('json'),
    headers: z.record(z.string(), z.string()).default({}),
    fields: z.array(z.string().min(1)).min(1),
    /** This partner's own deadline; the auction's (`routing.auction.timeoutMs`) bounds it. */
    timeoutMs: z.number().int().min(10).max(30_000).default(1000),
    /** How long a bid holds: the post after a refused winner goes only to bids still valid. */
    bidValidityMs: z.number().int().min(100).default(60_000),
    response: z
      .object({
        bidPath: z.string().min(1),
        pingIdPath: z.string().min(1),
        /** The bid's currency in the answer; the partner's `currency` when absent. */
        currencyPath: z.string().min(1).optional(),
        /** A true value (true, "true", "yes", 1, "accepted") means a bid; absent, any bid above 0 is one. */
        acceptedPath: z.string().min(1).optional(),
        acceptedPattern: patternSchema.optional(),
        reasonPath: z.string().min(1).optional(),
      })
      .refine((r) => !(r.acceptedPath && r.acceptedPattern), {
        message: 'acceptedPath or acceptedPattern, not both',
      }),
  })
  .refine((p) => !(p.method === 'GET' && p.format === 'json'), {
    message: 'a GET ping sends its fields in the query string: leave format out or set it to form',
    path: ['format'],
  });

/** How a partner's synchronous answer is read: a JSON path, a text pattern, or the HTTP status alone. */
export const responseSchema = z.object({
  statusPath: z.string().min(1).optional(),
  payoutPath: z.string().min(1).optional(),
  /** Regular expressions tested against the raw body, for `success=true;`-style answers. */
  acceptedPattern: patternSchema.optional(),
  rejectedPattern: patternSchema.optional(),
  statusMap: statusMapSchema.optional(),
});

/** A token bucket per gateway process: `perSecond` refills, `burst` more may come at once. */
export const rateLimitSchema = z.object({
  perSecond: z.number().positive(),
  burst: z.number().int().min(1),
});
export type RateLimit = z.infer<typeof rateLimitSchema>;

export const postbackConfigSchema = z.object({
  token: z.string().min(8, 'tokens shorter than 8 characters are guessable').optional(),
  hmacSecret: z.string().min(16).optional(),
  /** With an hmacSecret, also accept the token alone (no signature, no ts window, no replay check). */
  allowUnsigned: z.boolean().default(false),
  ipAllowlist: z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()])).optional(),
  /** Parameter aliases: our name -> the partner's name (e.g. subid: clickid). */
  params: z
    .object({
      subid: z.string(),
      status: z.string(),
      payout: z.string(),
      currency: z.string(),
      txid: z.string(),
      token: z.string(),
      /** The partner's name for the test flag (`test=1`: answered, logged, not applied). */
      test: z.string(),
    })
    .partial()
    .default({}),
  statusMap: statusMapSchema.default({}),
  defaultStatus: postbackStatusSchema.optional(),
  timeout: durationSchema.default(24 * 3_600_000),
  /** A postback rejection sends the lead on to the next partner instead of ending it. */
  allowResale: z.boolean().default(false),
  rateLimit: rateLimitSchema.optional(),
});

export const routingRulesSchema = z.object({
  priority: z.number().int().min(0).default(1),
  weight: z.number().int().min(0).default(100),
  filters: z
    .object({
      vertical: z.array(z.string()).optional(),
      country: z.array(z.string()).optional(),
      state: z.array(z.string()).optional(),
      zipPrefix: z.array(z.string()).optional(),
      /** Any lead field by dot path (e.g. "data.loanAmount") -> allowed values. */
      fields: z.record(z.string(), z.array(z.union([z.string(), z.number(), z.boolean()]))).optional(),
    })
    .default({}),
  dailyCap: z.number().int().min(0).optional(),
  hourlyCap: z.number().int().min(0).optional(),
  /** Skip this partner (reason `duplicate`) for a person it already bought within the window. */
  duplicates: z.object({ window: durationSchema }).optional(),
  /**
   * When the partner takes leads, in its own time zone: from (inclusive) to (exclusive). A window with
   * to < from runs across midnight and belongs to the day it starts on (`days: [fri]`, 22:00-06:00
   * includes Saturday 02:00).
   */
  activeHours: z
    .object({
      timezone: timeZoneSchema.default('UTC'),
      days: z
        .array(z.enum(WEEKDAYS))
        .min(1)
        .default([...WEEKDAYS]),
      from: clock,
      to: clock,
    })
    .refine((h) => h.from !== h.to, {
      message: 'from and to must differ (leave activeHours out for all day)',
      path: ['to'],
    })
    .optional(),
});

export const partnerSchema = z
  .object({
    id: idSchema,
    name: z.string().optional(),
    paused: z.boolean().default(false),
    delivery: deliverySchema,
    response: responseSchema.default({}),
    ping: pingSchema.optional(),
    postback: postbackConfigSchema,
    routing: routingRulesSchema.default(routingRulesSchema.parse({})),
    payout: amountSchema.optional(),
    currency: currencySchema.default('USD'),
  })
  .transform((p) => ({ ...p, payoutCents: p.payout === undefined ? undefined : toCents(p.payout) }))
  .superRefine((p, ctx) => {
    const { token, hmacSecret, ipAllowlist, allowUnsigned } = p.postback;
    if (allowUnsigned && !(hmacSecret && token)) {
      ctx.addIssue({
        code: 'custom',
        path: ['postback', 'allowUnsigned'],
        message:
          'allowUnsigned lets the token stand in for the signature: it needs both token and hmacSecret',
      });
    }
    if (!token && !hmacSecret && !ipAllowlist?.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['postback'],
        message: 'needs token, hmacSecret or ipAllowlist: unauthenticated postbacks are not accepted',
      });
    }
  });

export const auctionSchema = z
  .object({
    /** The whole auction's deadline: no ping is waited for, nor retried, past it. */
    timeoutMs: z.number().int().min(50).max(MAX_AUCTION_TIMEOUT_MS).default(1000),
    /** The lowest bid that can win, in `currency`. */
    floor: amountSchema.default(0),
    /** Bids in another currency are refused: amounts of different currencies are never compared. */
    currency: currencySchema.default('USD'),
    /**
     * How many buyers a lead is sold to (multisell, a shared lead): the top `winners` valid bids are posted to,
     * a refused post replaced by the next bid (docs/decisions/0017).
     */
    winners: z.number().int().min(1).max(10).default(1),
  })
  .transform((a) => ({ ...a, floorCents: toCents(a.floor) }));

export const notifyPolicySchema = z.object({
  initialInterval: durationSchema.default(1000),
  maxInterval: durationSchema.default(10 * 60_000),
  maxDuration: durationSchema.default(24 * 3_600_000),
});

export const sourceSchema = z.object({
  id: idSchema,
  name: z.string().optional(),
  apiKey: z.string().min(8, 'api keys shorter than 8 characters are guessable'),
  postbackUrl: httpUrl.optional(),
  postbackMethod: z.enum(['GET', 'POST']).default('GET'),
  notifyOn: z
    .array(z.enum(['pending', 'accepted', 'rejected', 'expired', 'failed', 'returned']))
    .default(['accepted', 'rejected', 'returned']),
  /** Standard Webhooks signing secret ("whsec_..." base64, or any string used as raw bytes). */
  secret: z.string().min(16).optional(),
  notify: notifyPolicySchema.default(notifyPolicySchema.parse({})),
  /** Leads per second this source may post (429 over it). */
  rateLimit: rateLimitSchema.optional(),
});

/** Duplicate leads at intake (issue 16): who counts as the same person, for how long, and what to do. */
export const duplicatesSettingsSchema = z.object({
  window: durationSchema.default(30 * 86_400_000),
  keys: z.array(z.enum(IDENTITY_KINDS)).min(1).default(['email', 'phone']),
  /** `global`: the same person from any source is a duplicate; `source`: only from the same source. */
  scope: z.enum(['global', 'source']).default('global'),
  /**
   * `reject`: 409 duplicate_lead; `flag`: accepted and marked (`duplicateOf`) for reports; `off`: no intake
   * check, the hashes are only kept for partners' `routing.duplicates` and suppression lists.
   */
  action: z.enum(['reject', 'flag', 'off']).default('reject'),
  /** Gmail ignores dots and `+tags`: count `j.doe+x@gmail.com` as `jdoe@gmail.com`. */
  gmail: z.boolean().default(false),
  /** The HMAC key of the stored hashes; DUPLICATES_SECRET when not set here. Changing it forgets everyone. */
  secret: z.string().min(16).optional(),
});
export type DuplicatesSettings = z.infer<typeof duplicatesSettingsSchema>;

export const routingConfigSchema = z
  .object({
    partners: z.array(partnerSchema).min(1),
    sources: z.array(sourceSchema).min(1),
    settings: z
      .object({
        maxPartnersPerLead: z.number().int().min(1).max(50).default(5),
        adminApiKey: z.string().min(16).optional(),
        /** Refused postbacks' log lines are deleted after this long (applied ones are kept). */
        refusedPostbackTtl: durationSchema.default(30 * 24 * 3_600_000),
        /** Per client address: postbacks failing authentication beyond this are answered 429 before checking. */
        authFailureRateLimit: rateLimitSchema.default({ perSecond: 1, burst: 100 }),
        duplicates: duplicatesSettingsSchema.optional(),
      })
      .prefault({}),
    routing: z
      .object({
        /** Ping-post auctions among partners with a `ping` (docs/routing.md "Auctions"). */
        auction: auctionSchema.prefault({}),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    for (const key of ['partners', 'sources'] as const) {
      const seen = new Set<string>();
      cfg[key].forEach((item, i) => {
        if (seen.has(item.id))
          ctx.addIssue({ code: 'custom', path: [key, i, 'id'], message: `duplicate id "${item.id}"` });
        seen.add(item.id);
      });
    }
    const keys = new Set<string>();
    cfg.sources.forEach((s, i) => {
      if (keys.has(s.apiKey))
        ctx.addIssue({ code: 'custom', path: ['sources', i, 'apiKey'], message: 'duplicate apiKey' });
      keys.add(s.apiKey);
    });
  });

export type RoutingConfig = z.infer<typeof routingConfigSchema>;
export type PartnerConfig = RoutingConfig['partners'][number];
export type SourceConfig = RoutingConfig['sources'][number];

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid routing config ${file}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** "partners[0].delivery.url" from zod's path array: the name an operator searches their file for. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)),
    '',
  );
}

export function parseRoutingConfig(raw: unknown, file = '<inline>'): RoutingConfig {
  const result = routingConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`),
    );
  }
  return result.data;
}

/** Config keys and environment variables holding credentials (`params` holds parameter names, not secrets). */
const SECRET_CONFIG_KEY = /(apiKey|token|secret)$/i;
const SECRET_ENV_VAR = /_(KEY|TOKEN|SECRET)$/;
const MIN_PRODUCTION_SECRET = 16;

function weakness(value: string): string | undefined {
  if (/change-me/i.test(value)) return 'is a placeholder ("change-me"): set a real secret';
  if (value.length < MIN_PRODUCTION_SECRET)
    return `is shorter than ${MIN_PRODUCTION_SECRET} characters: too easy to guess in production`;
  return undefined;
}

/**
 * Every credential in the config (source keys, admin key, tokens, secrets) and in the environment that a
 * production process must not run with: a demo value or a short one. Walks the parsed config, so a key
 * added to the schema later is covered by its name.
 */
export function weakProductionSecrets(config: RoutingConfig, env: NodeJS.ProcessEnv = {}): string[] {
  const problems: string[] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) if (k !== 'params') walk(v, [...path, k]);
    } else if (typeof value === 'string' && SECRET_CONFIG_KEY.test(String(path.at(-1)))) {
      const why = weakness(value);
      if (why) problems.push(`${formatPath(path)} ${why}`);
    }
  };
  walk(config, []);
  for (const [name, value] of Object.entries(env)) {
    const why = SECRET_ENV_VAR.test(name) && value ? weakness(value) : undefined;
    if (why) problems.push(`environment ${name} ${why}`);
  }
  return problems;
}

/**
 * Identity hashes need a key: from the file or DUPLICATES_SECRET. Required once a duplicate rule is
 * configured; with only the variable set, hashes are kept (for suppressions) and intake checks nothing.
 */
function withDuplicatesSecret(config: RoutingConfig, file: string, env: NodeJS.ProcessEnv): RoutingConfig {
  const configured = config.settings.duplicates;
  if (configured?.secret) return config;
  const secret = env.DUPLICATES_SECRET;
  const wanted = configured !== undefined || config.partners.some((p) => p.routing.duplicates);
  if (!secret) {
    if (!wanted) return config;
    throw new ConfigError(file, [
      'settings.duplicates.secret: duplicate rules need a secret (16+ characters) for the identity hashes: set DUPLICATES_SECRET or settings.duplicates.secret',
    ]);
  }
  const duplicates = configured ?? duplicatesSettingsSchema.parse({ action: 'off' });
  return { ...config, settings: { ...config.settings, duplicates: { ...duplicates, secret } } };
}

/** Reads and validates the config; with NODE_ENV=production it also refuses weak credentials (see above). */
export function loadRoutingConfig(file: string, env: NodeJS.ProcessEnv = process.env): RoutingConfig {
  const config = readRoutingConfig(file);
  if (env.NODE_ENV === 'production') {
    const weak = weakProductionSecrets(config, env);
    if (weak.length) throw new ConfigError(file, weak);
  }
  return withDuplicatesSecret(config, file, env);
}

function readRoutingConfig(file: string): RoutingConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(file, [
      `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
    ]);
  }
  return parseRoutingConfig(raw, file);
}

/** Lookups by id and api key, built once per loaded config. */
export class ConfigIndex {
  readonly partners: Map<string, PartnerConfig>;
  readonly sources: Map<string, SourceConfig>;
  /** By the digest of the api key, so a lookup's timing says nothing about the keys (hex of SHA-256). */
  private readonly sourcesByKeyDigest: Map<string, SourceConfig>;

  /** By the id in lower case (`partnerInPath`); null where two partners' ids fold to it. */
  private readonly partnersByFoldedId = new Map<string, PartnerConfig | null>();

  constructor(readonly config: RoutingConfig) {
    this.partners = new Map(config.partners.map((p) => [p.id, p]));
    for (const p of config.partners) {
      const folded = p.id.toLowerCase();
      this.partnersByFoldedId.set(folded, this.partnersByFoldedId.has(folded) ? null : p);
    }
    this.sources = new Map(config.sources.map((s) => [s.id, s]));
    this.sourcesByKeyDigest = new Map(config.sources.map((s) => [secretDigest(s.apiKey).toString('hex'), s]));
  }

  /**
   * The partner a postback URL's path names: its id, or the same id in another letter case when no other partner's
   * id differs from it only so (platforms that lowercase or capitalise the URLs they call).
   */
  partnerInPath(id: string): PartnerConfig | undefined {
    return this.partners.get(id) ?? this.partnersByFoldedId.get(id.toLowerCase()) ?? undefined;
  }

  sourceByKey(apiKey: string): SourceConfig | undefined {
    return this.sourcesByKeyDigest.get(secretDigest(apiKey).toString('hex'));
  }
}
