// Parameter cleaning: query and body merged into one flat map of plain strings, read under the partner's names.
import type { ConfigIndex, PartnerConfig } from '../../../shared/config';
import { AppError } from '../../../shared/errors';
import { postbackParamsSchema, type PostbackParams } from '../../../shared/http';
import { zodIssues } from '../validation';

const PARAM_NAMES = ['subid', 'status', 'payout', 'currency', 'txid', 'token', 'ts', 'test'] as const;
/** Partners add their own parameters (offer ids, sub ids); more than this is not a postback. */
const MAX_PARAMS = 50;
const MAX_PARAM_LENGTH = 2048;
/** Plain names only: `subid[$ne]`, `a.b` and `__proto__` are query-operator and prototype shapes, never a partner's. */
const PARAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function invalid(message: string, path: string, issue: string): AppError {
  return new AppError('invalid_request', message, [{ path: path.slice(0, 64), message: issue }]);
}

/** More significant digits than a double keeps exactly for every decimal of this length. */
const EXACT_DIGITS = 15;

/**
 * A JSON body's scalar as the string a query string would carry, or undefined when it cannot be read exactly.
 * Networks that post JSON send amounts, codes and times as numbers (`"payout": 12.5, "status": 1`): a number
 * is read in its shortest decimal form (12.50 is "12.5"), but only when no digit was lost in parsing it (an
 * integer past 2^53, more than 15 significant digits, an exponent), since a subid or txid rounded to another
 * is worse than refused. true/false are "true"/"false".
 */
function jsonScalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  if (Number.isInteger(v) && !Number.isSafeInteger(v)) return undefined;
  const text = String(v);
  if (/e/i.test(text) || text.replace(/^-?0*|\./g, '').length > EXACT_DIGITS) return undefined;
  return text;
}

/**
 * A query parameter's one value. A name repeated with the same value is that value: a partner's template appended
 * to a postback URL that already carried the parameter (`?subid=1&status=sale&...&subid=1`). Repeated with
 * different values it is a conflict; anything else (a nested or operator shape) is undefined, and refused.
 */
function queryValue(name: string, given: unknown): string | undefined {
  if (typeof given === 'string') return given;
  if (!Array.isArray(given) || !given.every((v) => typeof v === 'string')) return undefined;
  if (given.some((v) => v !== given[0]))
    throw invalid(`parameter "${name}" is given twice with different values`, name, 'conflicting values');
  return given[0] as string | undefined;
}

/**
 * Query and body merged into one flat map of strings. A JSON body's numbers and booleans are read as their
 * text (see jsonScalar) and a null is an absent parameter; a name repeated with one value in the query or a form
 * body is that value (see queryValue); arrays, objects, conflicting repeats and numbers that lost digits are
 * refused, never coerced.
 */
export function mergeParams(
  query: Record<string, unknown>,
  body: unknown,
  bodyIsForm = false,
): Record<string, string> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('the body must be a JSON object or a form', '(body)', 'expected an object of parameters');
  }
  // No prototype: a body key "__proto__" or "constructor" must stay a plain (refused) key.
  const merged: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const source of [query, body as Record<string, unknown>]) {
    for (const [k, given] of Object.entries(source)) {
      if (!PARAM_NAME.test(k)) {
        throw invalid(
          `parameter name "${k.slice(0, 40)}" is not allowed`,
          k,
          'names are letters, digits, "_" and "-"; operator-shaped or nested names are refused',
        );
      }
      if (given === null && source === body) continue;
      const v = source === body && !bodyIsForm ? jsonScalar(given) : queryValue(k, given);
      if (v === undefined) {
        throw invalid(
          `parameter "${k}" must be a single value`,
          k,
          typeof given === 'number'
            ? 'this number cannot be read without losing digits; send it as a string'
            : 'arrays, objects and repeated parameters are refused',
        );
      }
      if (v.length > MAX_PARAM_LENGTH)
        throw invalid(`parameter "${k}" is too long`, k, `at most ${MAX_PARAM_LENGTH} characters`);
      if (k in merged) {
        if (merged[k] !== v)
          throw invalid(`parameter "${k}" is given twice with different values`, k, 'conflicting values');
        continue;
      }
      if (++count > MAX_PARAMS)
        throw invalid(`more than ${MAX_PARAMS} parameters`, '(root)', 'too many parameters');
      merged[k] = v;
    }
  }
  return merged;
}

/** Parameters a postback may go without: when blank or an unfilled macro, they were not sent. */
const OPTIONAL: ReadonlySet<string> = new Set(['payout', 'currency', 'txid', 'ts', 'test']);
/**
 * A macro the partner's platform left as written because it had no value for it: `{payout}`, `{{payout}}`,
 * `${payout}`, `[payout]`, `%payout%`, `#payout#`. A name only (letters, digits, "_", "."), so a txid that is
 * a braced GUID (`{3F2504E0-4F89-...}`) is still a txid.
 */
const UNFILLED_MACRO = /^(?:\{\{?|\$\{|\[|%|#)[A-Za-z_][A-Za-z0-9_.]*(?:\}\}?|\]|%|#)$/;

/** A request's parameters by lower-cased name: the value, or CONFLICT when two spellings disagree. */
const CONFLICT = Symbol('conflict');
const byLowerName = new WeakMap<Record<string, string>, Map<string, string | typeof CONFLICT>>();

/**
 * A parameter by its name in any letter case (`SubID`, `Status`, `clickID`: platforms capitalize as they please).
 * Two spellings with different values are a conflict, as a repeated name is. The index is built once per request.
 */
export function lookup(params: Record<string, string>, name: string): string | undefined {
  let index = byLowerName.get(params);
  if (!index) {
    index = new Map();
    for (const [k, v] of Object.entries(params)) {
      const key = k.toLowerCase();
      const seen = index.get(key);
      index.set(key, seen === undefined || seen === v ? v : CONFLICT);
    }
    byLowerName.set(params, index);
  }
  const found = index.get(name.toLowerCase());
  if (found === CONFLICT)
    throw invalid(`parameter "${name}" is given twice with different values`, name, 'conflicting values');
  return found;
}

/**
 * The partner's names for our parameters (subid -> clickid, ...), ours as the fallback. Networks fill a
 * postback template per conversion and send what they have: `payout=` with no amount, `txid={transaction_id}`
 * untouched. Such an optional parameter is absent, not an error: refusing the postback would lose the
 * conversion, and an unfilled txid kept as a txid would make the lead's next postback a "duplicate" of it.
 */
function resolveParams(
  params: Record<string, string>,
  partner: PartnerConfig | undefined,
): Record<string, string> {
  const aliases: Partial<Record<string, string>> = partner?.postback.params ?? {};
  const out: Record<string, string> = {};
  for (const name of PARAM_NAMES) {
    const alias = aliases[name];
    const value = (alias !== undefined ? lookup(params, alias) : undefined) ?? lookup(params, name);
    if (value === undefined) continue;
    const trimmed = value.trim();
    // A status left unfilled is a status not sent: the partner's defaultStatus, if it has one, else a 400.
    if ((OPTIONAL.has(name) || name === 'status') && (trimmed === '' || UNFILLED_MACRO.test(trimmed)))
      continue;
    // The subid too: a template's stray space or line break around it is no part of an id we sent (ids have none).
    out[name] = OPTIONAL.has(name) || name === 'subid' ? trimmed : value;
  }
  return out;
}

/**
 * The request's signature: the `x-signature` header, or else a `signature` parameter, for the many partner
 * platforms that fire a postback URL and cannot set a header. Either way the signed string leaves it out.
 */
export function signatureOf(
  headers: Record<string, string | string[] | undefined>,
  raw: Record<string, string>,
): string | undefined {
  const header = headers['x-signature'];
  const given = header !== undefined ? String(header) : raw.signature;
  // Webhook libraries write the algorithm before the hex (`sha256=<hex>`); ours is the only one a signature can be.
  return given?.trim().replace(/^sha256=/i, '');
}

/** The parameters read under this partner's names, validated. */
export function readParams(raw: Record<string, string>, partner: PartnerConfig | undefined): PostbackParams {
  const parsed = postbackParamsSchema.safeParse(resolveParams(raw, partner));
  if (!parsed.success)
    throw new AppError('invalid_request', 'invalid postback parameters', zodIssues(parsed.error));
  return parsed.data;
}

/**
 * Without a partner in the path, the subid may come under our name or any partner's alias: the parameters
 * read under the first partner whose subid alias is present (ours otherwise), only to find the lead.
 */
export function readParamsAnyPartner(raw: Record<string, string>, cfg: ConfigIndex): PostbackParams {
  if (lookup(raw, 'subid') !== undefined) return readParams(raw, undefined);
  const partner = cfg.config.partners.find((p) => {
    const alias = p.postback.params.subid;
    return alias !== undefined && lookup(raw, alias) !== undefined;
  });
  return readParams(raw, partner);
}
