// Trivial workflows used only by the smoke tests to prove a worker, a server and the bundler fit together.
import { sleep } from '@temporalio/workflow';

export async function smokeGreeting(name: string): Promise<string> {
  return `hello, ${name}`;
}

/** Sleeps one day of workflow time; returns how much workflow time passed (the test server skips it). */
export async function smokeSleepOneDay(): Promise<number> {
  const before = Date.now(); // workflow time: deterministic, advanced by the server's timers
  await sleep('1 day');
  return Date.now() - before;
}
