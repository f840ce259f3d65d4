// Routing's view of a lead's person: suppressed people go to nobody, and a partner with routing.duplicates
// is skipped (reason `duplicate`) for a person it already bought within its window.
import type { PartnerConfig } from '../shared/config';
import { boughtBefore, isSuppressed } from '../shared/duplicates';

/** Builds, once per plan, the check that gives a partner's skip reason for this lead's person, if any. */
export async function personScreen(
  lead: { _id: string; identity?: string[] | null } | null,
  at: Date,
): Promise<(partner: PartnerConfig) => Promise<string | undefined>> {
  const hashes = lead?.identity ?? [];
  if (hashes.length === 0) return async () => undefined;
  const suppressed = await isSuppressed(hashes);
  return async (partner) => {
    if (suppressed) return 'suppressed';
    const rule = partner.routing.duplicates;
    if (!rule) return undefined;
    const since = new Date(at.getTime() - rule.window);
    return (await boughtBefore(partner.id, hashes, since, lead?._id ?? '')) ? 'duplicate' : undefined;
  };
}
