// The one way dev, tests and benchmarks run a child process (a server binary or one of the apps): logged,
// stopped with a grace period, killed with the parent, and reaped if the parent itself died by SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from './provision/binaries';
import { errorMessage, isAlive, sleep, tail } from './util';

export const repoRoot = path.resolve(__dirname, '..');

export interface StopOptions {
  /** SIGTERM, then SIGKILL after this many ms (default 5000). 0 kills at once, like a crash. */
  graceMs?: number;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Where its stdout and stderr go; undefined when they are the parent's own. */
  logFile: string | undefined;
  running(): boolean;
  exited: Promise<void>;
  stop(opts?: StopOptions): Promise<void>;
  /** SIGKILL at once: a crash, no drain, no cleanup. */
  crash(): Promise<void>;
}

export interface SpawnOptions {
  /** Appended to (and created) when given; else the child shares the parent's stdout and stderr. */
  logFile?: string;
  cwd?: string;
  /** The child's whole environment (default: the parent's). */
  env?: NodeJS.ProcessEnv;
  /** A short name for messages (default: the binary's file name). */
  name?: string;
}

const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

/** One registry for every child this process started, whoever started it. */
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

export function spawnLogged(bin: string, args: string[], opts: SpawnOptions = {}): ManagedProcess {
  installExitHooks();
  reapOrphans();
  let child: ChildProcess;
  if (opts.logFile) {
    fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
    const fd = fs.openSync(opts.logFile, 'a');
    fs.writeSync(fd, `\n--- ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    try {
      child = spawn(bin, args, { stdio: ['ignore', fd, fd], cwd: opts.cwd, env: opts.env });
    } finally {
      fs.closeSync(fd); // the child holds its own copy
    }
  } else {
    child = spawn(bin, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: opts.cwd, env: opts.env });
  }
  const name = opts.name ?? path.basename(bin);
  if (!child.pid) throw new Error(`${name} did not start (${bin})`);
  const pid = child.pid;
  liveChildren.add(child);
  registerChild(pid, bin);
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      liveChildren.delete(child);
      unregisterChild(pid);
      resolve();
    };
    child.once('exit', done);
    child.once('error', done); // e.g. ENOENT: no 'exit' follows
  });
  const running = (): boolean => liveChildren.has(child);
  const managed: ManagedProcess = {
    name,
    pid,
    child,
    logFile: opts.logFile,
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
    crash: () => managed.stop({ graceMs: 0 }),
  };
  return managed;
}

export interface AppOptions {
  /** The app's whole environment. */
  env: NodeJS.ProcessEnv;
  /** Default: the parent's stdout and stderr. */
  logFile?: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Where `entry` is resolved and the app runs (default: this repository). */
  root?: string;
}

/** One of the project's processes (`apps/worker/main.ts`, ...) as `node --import tsx <entry>`. */
export function startApp(name: string, entry: string, opts: AppOptions): ManagedProcess {
  const root = opts.root ?? repoRoot;
  const args = [...(opts.nodeArgs ?? []), '--import', 'tsx', path.resolve(root, entry)];
  return spawnLogged(process.execPath, args, { name, cwd: root, env: opts.env, logFile: opts.logFile });
}

/** Polls `probe` until it resolves; fails early (with the log's tail) if the process exits first. */
export async function waitUntilReady(
  proc: ManagedProcess,
  what: string,
  timeoutMs: number,
  probe: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  const log = (): string => (proc.logFile ? `; log ${proc.logFile}:\n${tail(proc.logFile)}` : '');
  while (Date.now() < deadline) {
    if (!proc.running()) throw new Error(`${what} exited during startup${log()}`);
    try {
      await probe();
      return;
    } catch (err) {
      lastError = err;
    }
    await sleep(150);
  }
  await proc.crash();
  throw new Error(`${what} not ready after ${timeoutMs} ms (${errorMessage(lastError)})${log()}`);
}

/** Waits until an HTTP app answers `GET <url>/healthz` with 200. */
export function waitForHealthz(proc: ManagedProcess, url: string, timeoutMs = 60_000): Promise<void> {
  return waitUntilReady(proc, `${proc.name} on ${url}`, timeoutMs, async () => {
    const res = await fetch(`${url}/healthz`);
    await res.body?.cancel();
    if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
  });
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

/** Kills children whose launching process is gone. Returns how many it killed. */
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
