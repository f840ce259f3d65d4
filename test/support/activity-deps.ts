// Activities called directly against the real database and real buyers: their dependencies, and a lead as
// POST /ping stores it.
import type { ActivityDeps } from '../../activities';
import { undiciHttp } from '../../activities/http';
import type { ConfigIndex } from '../../shared/config';
import { createLogger } from '../../shared/logger';
import { Lead } from '../../shared/models';

/** The config given, real HTTP, the wall clock, no logs. */
export function activityDeps(config: ConfigIndex): ActivityDeps {
  return {
    config: () => config,
    http: undiciHttp,
    logger: createLogger('test', 'silent'),
    now: () => new Date(),
  };
}

let n = 0;
/** A partial lead of `src-1` at `received`, as POST /ping stores it (no contact data), under a new id. */
export async function insertPingedLead(prefix: string): Promise<string> {
  const leadId = `${prefix}-${++n}`;
  await Lead.create({
    _id: leadId,
    sourceId: 'src-1',
    status: 'received',
    seq: 0,
    vertical: 'auto',
    geo: { country: 'US', state: 'TX' },
  });
  return leadId;
}
