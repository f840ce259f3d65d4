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
      url: `${url}/ping`,
      fields: ['vertical', 'geo.state'],
      timeoutMs: 10_000,
      ...(options.bidValidityMs === undefined ? {} : { bidValidityMs: options.bidValidityMs }),
      response: {
        bidPath: 'bid',
        pingIdPath: 'pingId',
        currencyPath: 'currency',
        acceptedPath: 'accepted',
        reasonPath: 'reason',
      },
    },
    postback: { token: `${id}-token-123`, timeout: '1h' },
  };
}
