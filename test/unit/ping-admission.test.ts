import { MAX_PINGS_IN_FLIGHT, MIN_PINGS_IN_FLIGHT, PingAdmission } from '../../apps/gateway/ping-admission';

const DEADLINE = 1000;

/** An admission on a clock the test moves. */
function admission() {
  const clock = { t: 0 };
  return { gate: new PingAdmission(() => clock.t), clock };
}

/** Takes `n` pings in; how many were. */
const admitMany = (gate: PingAdmission, n: number) =>
  Array.from({ length: n }, () => gate.admit()).filter(Boolean).length;

test('a gateway that has seen no late answer takes a burst in whole (late: its own time over half the deadline)', () => {
  const { gate } = admission();
  expect(admitMany(gate, 500)).toBe(500);
  for (let i = 0; i < 500; i++) gate.settle(DEADLINE / 2, DEADLINE); // at the edge: in time
  expect(gate.state()).toEqual({ inFlight: 0, limit: MAX_PINGS_IN_FLIGHT });
});

test('a late answer now and then lowers nothing', () => {
  const { gate, clock } = admission();
  admitMany(gate, 200);
  for (let i = 0; i < 10; i++) {
    gate.settle(DEADLINE / 2 + 1, DEADLINE);
    for (let j = 0; j < 15; j++) gate.settle(300, DEADLINE);
    clock.t += DEADLINE;
  }
  expect(gate.state()).toEqual({ inFlight: 40, limit: MAX_PINGS_IN_FLIGHT });
});

test('a run of late answers lowers the limit to 90% of what was running, and the pings over it are turned away', () => {
  const { gate } = admission();
  expect(admitMany(gate, 40)).toBe(40);
  gate.settle(DEADLINE / 2 + 1, DEADLINE);
  gate.settle(DEADLINE / 2 + 1, DEADLINE);
  expect(gate.state().limit).toBe(MAX_PINGS_IN_FLIGHT);
  // The third in a row: 37 still running, 38 with it, and the limit is 34, so nothing more until three more
  // have answered.
  gate.settle(DEADLINE / 2 + 1, DEADLINE);
  expect(gate.state()).toEqual({ inFlight: 37, limit: 34 });
  expect(gate.admit()).toBe(false);
  for (let i = 0; i < 2; i++) gate.settle(100, DEADLINE);
  expect(gate.admit()).toBe(false);
  gate.settle(100, DEADLINE);
  expect(gate.admit()).toBe(true);
  expect(gate.state()).toEqual({ inFlight: 35, limit: 34 });
});

test('the late answers of one spell lower it once per deadline, not once each', () => {
  const { gate, clock } = admission();
  admitMany(gate, 30);
  for (let i = 0; i < 10; i++) gate.settle(3000, DEADLINE);
  // Lowered at the third (28 running with it), not again at the seven after it.
  expect(gate.state()).toEqual({ inFlight: 20, limit: 25 });
  clock.t += DEADLINE;
  gate.settle(3000, DEADLINE);
  expect(gate.state()).toEqual({ inFlight: 19, limit: 18 });
});

test('the limit falls no lower than the floor, and answers in time raise it by one per limit answered', () => {
  const { gate, clock } = admission();
  admitMany(gate, 3);
  for (let i = 0; i < 3; i++) {
    gate.settle(5000, DEADLINE);
    clock.t += DEADLINE;
  }
  expect(gate.state()).toEqual({ inFlight: 0, limit: MIN_PINGS_IN_FLIGHT });
  expect(admitMany(gate, 3)).toBe(MIN_PINGS_IN_FLIGHT);
  gate.settle(200, DEADLINE);
  gate.settle(200, DEADLINE);
  // Each answer in time adds 1/limit: two at 2 make 2.9, and three more make 3.8.
  expect(gate.state()).toEqual({ inFlight: 0, limit: 2 });
  for (let i = 0; i < 3; i++) {
    gate.admit();
    gate.settle(200, DEADLINE);
  }
  expect(gate.state().limit).toBe(3);
});
