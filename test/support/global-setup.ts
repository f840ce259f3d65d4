// Jest global setup: starts one MongoDB-wire server (or uses MONGODB_URI) and one Temporal dev server for the whole run and publishes their addresses to the test workers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GlobalConfig } from 'jest';
import { findBinary } from '../../scripts/provision/binaries';
import {
  resolveMongo,
  startTemporalDevServer,
  type MongoServer,
  type TemporalDevServer,
} from '../../scripts/provision/servers';
import { stateFilePath, type TestEnv } from './servers';

/** Handed to global teardown, which runs in this same process (jest shares globals between the two). */
export interface RunningServers {
  tmpDir: string;
  mongo?: MongoServer;
  temporal?: TemporalDevServer;
}
declare global {
  var __LEADROUTER_SERVERS__: RunningServers | undefined;
}

export default async function globalSetup(globalConfig: GlobalConfig): Promise<void> {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadrouter-test-'));
  const running: RunningServers = { tmpDir };
  globalThis.__LEADROUTER_SERVERS__ = running;
  const started = Date.now();
  // Started in parallel. Jest skips global teardown when setup throws, so on failure we stop
  // whichever server did come up ourselves before reporting the error.
  const [binary, mongo, temporal] = await Promise.allSettled([
    findBinary('temporal-test-server'),
    resolveMongo({ dataDir: path.join(tmpDir, 'mongo') }),
    startTemporalDevServer({ dbFile: path.join(tmpDir, 'temporal', 'temporal.db') }),
  ]);
  if (mongo.status === 'fulfilled') running.mongo = mongo.value;
  if (temporal.status === 'fulfilled') running.temporal = temporal.value;
  if (binary.status === 'rejected' || mongo.status === 'rejected' || temporal.status === 'rejected') {
    await Promise.all([running.mongo?.stop(), running.temporal?.stop()]);
    globalThis.__LEADROUTER_SERVERS__ = undefined;
    throw [binary, mongo, temporal].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))[0];
  }

  const env: TestEnv = {
    mongoUri: mongo.value.uri,
    mongoKind: mongo.value.kind,
    temporalAddress: temporal.value.address,
    temporalNamespace: temporal.value.namespace,
    testServerPath: binary.value,
  };
  // Workers are forked after global setup and inherit process.env; the file is the fallback.
  Object.assign(process.env, {
    MONGODB_URI: env.mongoUri,
    LEADROUTER_MONGO_KIND: env.mongoKind,
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_NAMESPACE: env.temporalNamespace,
    TEMPORAL_TEST_SERVER_PATH: env.testServerPath,
    LEADROUTER_TEST_TMP: tmpDir,
  });
  fs.writeFileSync(stateFilePath(), JSON.stringify({ ...env, ownerPid: process.pid, tmpDir }, null, 2));
  if (globalConfig.verbose || process.env.CI) {
    console.log(
      `\n[test servers] ${env.mongoKind} ${env.mongoUri}, Temporal ${env.temporalAddress} (logs in ${tmpDir}) up in ${Date.now() - started} ms`,
    );
  }
}
