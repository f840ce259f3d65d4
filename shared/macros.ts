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
