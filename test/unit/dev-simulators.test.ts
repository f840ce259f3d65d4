// `npm run dev` with a user's own config: simulators only when wanted, and a port the user's own mock already holds is named and skipped, not a crash.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseRoutingConfig } from '../../shared/config';
import { EXAMPLE_CONFIG, simulatorsWanted, startDemoSimulators } from '../../scripts/dev/demo';
import { freePort } from '../../scripts/util';

test('simulators start for the example config, or for another only with --simulators or --demo', () => {
  expect(simulatorsWanted('config/routing.yaml', {})).toBe(true); // npm runs from the repo root
  expect(simulatorsWanted(EXAMPLE_CONFIG, {})).toBe(true);
  const mine = path.join('/', 'etc', 'leadrouter', 'routing.yaml');
  expect(simulatorsWanted(mine, {})).toBe(false);
  expect(simulatorsWanted(mine, { simulators: true })).toBe(true);
  expect(simulatorsWanted(mine, { demo: true })).toBe(true);
});

test("a partner port the user's own mock holds is named with the partner's URL, and the rest start", async () => {
  const mock = http.createServer((_req, res) => res.end('mine'));
  await new Promise<void>((resolve) => mock.listen(0, '127.0.0.1', resolve));
  const takenPort = (mock.address() as AddressInfo).port;
  const [freeOne, sourcePort] = [await freePort(), await freePort()];
  const config = parseRoutingConfig({
    partners: [
      {
        id: 'mymock',
        delivery: { url: `http://127.0.0.1:${takenPort}/leads` },
        postback: { token: 'mymock-token-0123456789', defaultStatus: 'accepted' },
      },
      {
        id: 'other',
        delivery: { url: `http://localhost:${freeOne}/leads` },
        postback: { token: 'other-token-0123456789', defaultStatus: 'accepted' },
      },
    ],
    sources: [
      {
        id: 'src',
        apiKey: 'src-key-0123456789abcdef',
        postbackUrl: `http://127.0.0.1:${sourcePort}/pb?c={clickid}`,
      },
    ],
  });
  const notes: string[] = [];
  const sims = await startDemoSimulators(config, 'http://127.0.0.1:1', (line) => notes.push(line));
  try {
    expect(notes).toEqual([expect.stringContaining(`partner mymock http://127.0.0.1:${takenPort}/leads`)]);
    expect(notes[0]).toContain(`port ${takenPort} is already in use`);
    expect([...sims.partners.keys()]).toEqual(['other']);
    expect(sims.source?.url).toBe(`http://127.0.0.1:${sourcePort}`);
    // The user's mock still answers its own requests.
    expect(await (await fetch(`http://127.0.0.1:${takenPort}/leads`)).text()).toBe('mine');
  } finally {
    await sims.stop();
    await new Promise((resolve) => mock.close(resolve));
  }
});
