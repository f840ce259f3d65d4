// One partner read through the routing config schema, defaults filled in, as the unit tests of routing, pings,
// answers and status maps take it.
import { parseRoutingConfig, type PartnerConfig } from '../../shared/config';

/**
 * Partner `p1` with these fields beside a loopback delivery URL and a postback token (fields.postback adds
 * to the token), parsed as the gateway and worker parse the routing config.
 */
export function parsedPartner(
  fields: Record<string, unknown> & { postback?: Record<string, unknown> } = {},
): PartnerConfig {
  const cfg = parseRoutingConfig({
    partners: [
      {
        id: 'p1',
        delivery: { url: 'http://127.0.0.1:1/leads' },
        ...fields,
        postback: { token: 'token-123456', ...fields.postback },
      },
    ],
    sources: [{ id: 's1', apiKey: 'key-s1-abcdef' }],
  });
  return cfg.partners[0] as PartnerConfig;
}
