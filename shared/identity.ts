// A lead's identity keys: email and phone normalized so that spellings of one person compare equal, then
// keyed hashes (HMAC-SHA256 with a server secret), the only form in which they are stored (issue 16).
import { createHmac } from 'node:crypto';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export const IDENTITY_KINDS = ['email', 'phone'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

/** Mailbox providers that ignore dots in the local part and deliver `name+tag` to `name`. */
const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

export interface EmailOptions {
  /** Remove dots and `+tags` of Gmail addresses (settings.duplicates.gmail). */
  gmail?: boolean;
}

/** Lower-cased, trimmed address (with `mailto:` and angle brackets gone); undefined when not an address. */
export function normalizeEmail(raw: unknown, options: EmailOptions = {}): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const text = raw
    .trim()
    .replace(/^mailto:/i, '')
    .replace(/^<(.*)>$/, '$1')
    .trim()
    .toLowerCase();
  const at = text.lastIndexOf('@');
  if (at < 1 || at === text.length - 1 || /\s/.test(text)) return undefined;
  let local = text.slice(0, at);
  let domain = text.slice(at + 1).replace(/\.$/, '');
  if (!domain.includes('.')) return undefined;
  if (options.gmail && GMAIL_DOMAINS.has(domain)) {
    local = local.replace(/\+.*$/, '').replace(/\./g, '');
    domain = 'gmail.com';
  }
  return local ? `${local}@${domain}` : undefined;
}

/** E.164 (`+14155550123`), the lead's country as the region of a national number; undefined when not a valid number. */
export function normalizePhone(raw: unknown, country?: string): string | undefined {
  if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  const text = String(raw).trim();
  if (!text) return undefined;
  const region =
    country && /^[A-Za-z]{2}$/.test(country) ? (country.toUpperCase() as CountryCode) : undefined;
  // "00" is the international prefix in most of the world: "0049..." is "+49...".
  const international = text.replace(/^00(?=[1-9])/, '+');
  const phone = parsePhoneNumberFromString(international, region);
  return phone?.isValid() ? phone.number : undefined;
}

export interface IdentityInput {
  contact?: Record<string, unknown> | null;
  geo?: { country?: string | null } | null;
}

/** The normalized keys a lead carries, of the kinds asked for (contact.email, contact.phone). */
export function identityKeys(
  lead: IdentityInput,
  kinds: readonly IdentityKind[],
  options: EmailOptions = {},
): { kind: IdentityKind; value: string }[] {
  const contact = lead.contact ?? {};
  const keys: { kind: IdentityKind; value: string }[] = [];
  for (const kind of kinds) {
    const value =
      kind === 'email'
        ? normalizeEmail(contact.email, options)
        : normalizePhone(contact.phone, lead.geo?.country ?? undefined);
    if (value) keys.push({ kind, value });
  }
  return keys;
}

/** The stored form of a key: without the secret, a hash cannot be tested against a list of addresses. */
export function identityHash(secret: string, kind: IdentityKind, value: string): string {
  return createHmac('sha256', secret).update(`${kind}:${value}`).digest('hex');
}

/** A hash given by an operator (e.g. a suppression list exported from another leadrouter). */
export const IDENTITY_HASH = /^[0-9a-f]{64}$/;
