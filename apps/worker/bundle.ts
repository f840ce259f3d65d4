// The workflow bundle: webpack's build of workflows/, which every worker needs before it polls. Bundling takes
// seconds; a worker that restarts, or a second replica, would repeat it for code that has not changed. So the
// bundle is kept, once per version of its inputs, in .cache/workflow-bundle beside the code (dist/.cache in the
// image, where `npm run build` writes it): a worker whose inputs hash to the kept one loads it instead.
// Its inputs: every file of workflows/, shared/ and activities/ (workflow code imports the first two, and the
// activities' types), the bundler's own version, and the version of each package the bundle took in.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';

/** What the worker runs: the bundled code, its source map inlined. */
export interface WorkflowCode {
  code: string;
}

/** What measuring the workflows' test coverage needs (@temporalio/nyc-test-coverage's WorkflowCoverage). */
export interface WorkflowInstrumentation {
  augmentBundleOptions(options: BundleOptions & { workflowsPath: string }): BundleOptions;
  // any: the SDK types injected sinks per sink interface; the coverage sinks' own type is the library's.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sinks: import('@temporalio/worker').InjectedSinks<any>;
}

export interface LoadedBundle {
  bundle: WorkflowCode;
  /** `cache`: loaded from the kept bundle; `built`: bundled now (and kept, when the folder is writable). */
  from: 'cache' | 'built';
}

/** A kept bundle: the key its inputs hashed to, the packages it took in (part of the key), the code. */
interface KeptBundle {
  key: string;
  packages: string[];
  code: string;
}

export interface BundleCacheOptions {
  /** The workflows' entry: workflows/index.ts, or its compiled index.js. */
  workflowsPath: string;
  /** Where bundles are kept; `undefined` bundles without keeping anything. */
  cacheDir?: string;
  instrumentation?: WorkflowInstrumentation;
  /** Told when a bundle could not be kept (a read-only folder): the worker runs on, bundling at each start. */
  onKeepFailed?: (err: unknown) => void;
}

/** The folder holding workflows/ (the repository, or dist/ once compiled), from its entry file or folder. */
const codeRootOf = (workflowsPath: string): string =>
  path.dirname(fs.statSync(workflowsPath).isFile() ? path.dirname(workflowsPath) : workflowsPath);

/** Every file under `dir`, relative to `root`, sorted: a new or removed file changes the key too. */
function filesUnder(root: string, dir: string): string[] {
  const full = path.join(root, dir);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/** The installed version of a package, read from its own package.json (undefined when absent). */
function packageVersion(name: string, from: string): string | undefined {
  try {
    const file = require.resolve(`${name}/package.json`, { paths: [from] });
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The hash of the project's workflow-side files, read once per load (a kept bundle's check and a new one's key). */
function sourcesDigest(root: string): string {
  const hash = crypto.createHash('sha256');
  for (const file of ['workflows', 'shared', 'activities'].flatMap((dir) => filesUnder(root, dir))) {
    hash
      .update(`${file}\0`)
      .update(fs.readFileSync(path.join(root, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

/** The hash of a bundle's inputs: the project's workflow-side files, the bundler, the packages taken in. */
function bundleKey(workflowsPath: string, packages: string[], sources: string): string {
  const root = codeRootOf(workflowsPath);
  const hash = crypto.createHash('sha256').update(sources);
  for (const name of ['@temporalio/worker', ...packages])
    hash.update(`\0${name}@${packageVersion(name, root) ?? 'absent'}`);
  return hash.digest('hex');
}

/** The npm packages whose modules a bundle holds, read from its inlined source map. */
export function packagesIn(code: string): string[] {
  const map = /sourceMappingURL=data:application\/json;charset=utf-8;base64,([A-Za-z0-9+/=]+)\s*$/.exec(code);
  if (!map?.[1]) return [];
  const sources = (JSON.parse(Buffer.from(map[1], 'base64').toString('utf8')) as { sources?: string[] })
    .sources;
  const names = new Set<string>();
  for (const source of sources ?? []) {
    const after = source.split('node_modules/').pop();
    if (after === undefined || after === source) continue;
    const parts = after.split('/');
    names.add(parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? ''));
  }
  return [...names].filter(Boolean).sort();
}

/** The kept bundle's file: one per workflows entry, so the source tree's and dist's do not replace each other. */
const keptFile = (cacheDir: string, workflowsPath: string): string =>
  path.join(
    cacheDir,
    `${crypto.createHash('sha256').update(path.resolve(workflowsPath)).digest('hex').slice(0, 16)}.json`,
  );

function readKept(file: string): KeptBundle | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as KeptBundle;
  } catch {
    return undefined;
  }
}

/** Written whole or not at all (a rename): replicas starting together may both write it. */
function keep(file: string, kept: KeptBundle): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.${crypto.randomUUID()}.partial`;
  fs.writeFileSync(partial, JSON.stringify(kept));
  fs.renameSync(partial, file);
}

/**
 * The workflow bundle for these sources: the kept one when its inputs are unchanged, else bundled now and kept.
 * An instrumented bundle (test coverage) is never kept or loaded.
 */
export async function loadWorkflowBundle(options: BundleCacheOptions): Promise<LoadedBundle> {
  const { workflowsPath, cacheDir, instrumentation } = options;
  const bundleOptions = { workflowsPath, logger: quietBundlerLogger };
  if (instrumentation || !cacheDir) {
    const built = await bundleWorkflowCode(
      instrumentation ? instrumentation.augmentBundleOptions(bundleOptions) : bundleOptions,
    );
    return { bundle: { code: built.code }, from: 'built' };
  }
  const file = keptFile(cacheDir, workflowsPath);
  const kept = readKept(file);
  const sources = sourcesDigest(codeRootOf(workflowsPath));
  if (kept && kept.key === bundleKey(workflowsPath, kept.packages, sources))
    return { bundle: { code: kept.code }, from: 'cache' };
  const { code } = await bundleWorkflowCode(bundleOptions);
  const packages = packagesIn(code);
  try {
    keep(file, { key: bundleKey(workflowsPath, packages, sources), packages, code });
  } catch (err) {
    options.onKeepFailed?.(err);
  }
  return { bundle: { code }, from: 'built' };
}

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

/** This code's workflows entry and its bundle folder (`.cache/workflow-bundle` beside workflows/). */
export function defaultBundleLocation(): { workflowsPath: string; cacheDir: string } {
  const workflowsPath = require.resolve('../../workflows');
  return { workflowsPath, cacheDir: path.join(codeRootOf(workflowsPath), '.cache', 'workflow-bundle') };
}

/**
 * What `npm run build` runs: keeps the bundle of the compiled workflows in dist/.cache, so the image's workers start
 * without bundling. A bundle that cannot be kept fails the build. Says what it did.
 */
export async function keepWorkflowBundle(location = defaultBundleLocation()): Promise<string> {
  const started = Date.now();
  const { from } = await loadWorkflowBundle({
    ...location,
    onKeepFailed: (err) => {
      throw err;
    },
  });
  return `workflow bundle ${from === 'cache' ? 'up to date' : 'built'} in ${Date.now() - started} ms`;
}

if (require.main === module) {
  keepWorkflowBundle().then(console.log, (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
