// The intake check for duplicate leads: the person's identity hashes, claimed for the window, answered as
// settings.duplicates.action says (reject: 409 duplicate_lead naming the earlier lead; flag: marked).
import type { ConfigIndex, SourceConfig } from '../../shared/config';
import { claimIdentity, leadIdentity } from '../../shared/duplicates';
import { AppError } from '../../shared/errors';
import type { IdentityInput } from '../../shared/identity';
import type { Metrics } from '../../shared/metrics';

export interface IntakeIdentity {
  /** Stored on the lead: the per-partner rule and the suppression list match on them later. */
  identity?: string[];
  duplicateOf?: string;
}

export async function screenDuplicates(
  config: ConfigIndex | undefined,
  source: SourceConfig,
  input: IdentityInput,
  leadId: string,
  at: Date,
  metrics?: Pick<Metrics, 'duplicateLeads'>,
): Promise<IntakeIdentity> {
  const settings = config?.config.settings.duplicates;
  const hashes = leadIdentity(input, settings);
  if (!settings || hashes.length === 0) return {};
  if (settings.action === 'off') return { identity: hashes };
  const { duplicateOf } = await claimIdentity({
    hashes,
    scope: settings.scope === 'source' ? `source:${source.id}` : 'global',
    leadId,
    at,
    windowMs: settings.window,
  });
  if (duplicateOf) metrics?.duplicateLeads.inc({ source: source.id, action: settings.action });
  if (duplicateOf && settings.action === 'reject')
    throw new AppError('duplicate_lead', `the same person was received as lead ${duplicateOf}`, [
      { path: 'contact', message: `duplicate of lead ${duplicateOf}` },
    ]);
  return { identity: hashes, ...(duplicateOf ? { duplicateOf } : {}) };
}
