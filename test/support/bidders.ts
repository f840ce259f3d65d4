// A ping-post bidder as the e2e tests configure it: pinged at `<url>/ping` with the vertical and state, posted to
// at `<url>/leads` with its ping id in `ping_id`, answering both synchronously (the partner simulator's shape).
export function bidderPartner(
  id: string,
  url: string,
  options: { timeoutMs?: number; bidValidityMs?: number } = {},
) {
  return {
    id,
    delivery: {
      url: `${url}/leads`,
      timeoutMs: options.timeoutMs ?? 2000,
      maxAttempts: 1,
      pingIdField: 'ping_id',
    },
    response: { statusPath: 'status' },
    ping: {
      ...simulatorPing(url),
      ...(options.bidValidityMs === undefined ? {} : { bidValidityMs: options.bidValidityMs }),
    },
    postback: { token: `${id}-token-123`, timeout: '1h' },
  };
}

/** A partner simulator's ping endpoint and the fields of its answer ({bid, currency, pingId, accepted, reason}). */
export function simulatorPing(url: string, fields = ['vertical', 'geo.state']) {
  return {
    url: `${url}/ping`,
    fields,
    timeoutMs: 10_000,
    response: {
      bidPath: 'bid',
      pingIdPath: 'pingId',
      currencyPath: 'currency',
      acceptedPath: 'accepted',
      reasonPath: 'reason',
    },
  };
}
