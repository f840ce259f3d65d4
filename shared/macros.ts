// Fills a traffic source's postback URL template: {clickid}, {status}, {payout}, {sub1}, ... each URL-encoded.
import { SUB_IDS } from './lead-fields';

export const NOTIFICATION_MACROS = [
  'clickid',
  'lead_id',
  'status',
  'payout',
  'currency',
  'partner',
  'source',
  'event_id',
  // The source's own sub ids, as it sent them with the lead: trackers attribute the conversion by them.
  ...SUB_IDS,
] as const;
export type MacroValues = Partial<Record<(typeof NOTIFICATION_MACROS)[number], string>>;

/** Unknown macros are left as they are, so a typo shows up in the receiver's logs rather than vanishing. */
export function fillTemplate(template: string, values: MacroValues): string {
  return template.replace(/\{([a-z0-9_]+)\}/g, (whole, name: string) =>
    name in values ? encodeURIComponent(values[name as keyof MacroValues] ?? '') : whole,
  );
}

/**
 * What a source's postback URL holds in braces that is no macro (`{click_id}`, `{ClickID}`): it goes out as
 * written, so the source's tracker cannot attribute the conversion. Told when the config is loaded and checked.
 */
export function unknownMacros(sources: readonly { id: string; postbackUrl?: string }[]): string[] {
  const known: ReadonlySet<string> = new Set(NOTIFICATION_MACROS);
  return sources.flatMap((source, i) =>
    [...(source.postbackUrl ?? '').matchAll(/\{([A-Za-z0-9_]+)\}/g)]
      .filter((m) => !known.has(m[1] as string))
      .map(
        (m) =>
          `sources[${i}].postbackUrl (${source.id}): ${m[0]} is no macro and is sent as written; the macros are ${NOTIFICATION_MACROS.map((n) => `{${n}}`).join(' ')}`,
      ),
  );
}
