// Jest global teardown: stops the servers global setup started and removes their temp files.
import fs from 'node:fs';
import { stateFilePath } from './servers';

export default async function globalTeardown(): Promise<void> {
  const running = globalThis.__LEADROUTER_SERVERS__;
  if (!running) return;
  globalThis.__LEADROUTER_SERVERS__ = undefined;
  await Promise.all([running.mongo?.stop(), running.temporal?.stop()]);
  // Only our own state file: a concurrent run in this checkout may have written a newer one.
  try {
    const state = JSON.parse(fs.readFileSync(stateFilePath(), 'utf8')) as { ownerPid?: number };
    if (state.ownerPid === process.pid) fs.rmSync(stateFilePath(), { force: true });
  } catch {
    // already gone
  }
  if (process.env.LEADROUTER_KEEP_TEST_DATA) {
    console.log(`[test servers] kept data and logs in ${running.tmpDir}`);
  } else {
    fs.rmSync(running.tmpDir, { recursive: true, force: true });
  }
}
