// What /proc says about a benchmark's processes, and the bounded runner every long benchmark uses. Starting
// and stopping the processes themselves is scripts/processes.ts, shared with dev and the tests.
import fs from 'node:fs';

/** Resident set size in MiB from /proc/<pid>/status (VmRSS), or undefined when the process is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Total CPU time (user + system) of a process in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** The machine's CPU time by kind since boot, in jiffies, from the first line of /proc/stat. */
function machineCpu(): { idle: number; steal: number; total: number } {
  const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user).
  const n = fields.slice(0, 8).map(Number);
  return { idle: n[3]! + n[4]!, steal: n[7]!, total: n.reduce((a, b) => a + b, 0) };
}

/**
 * Shares of the machine's CPU time, from now to stop(): idle, and stolen by the hypervisor (a virtual machine's
 * cores given to other guests). A run with much stolen had fewer cores than the machine has.
 */
export function machineCpuMeter(): { stop(): { idlePct: number; stealPct: number } } {
  const before = machineCpu();
  return {
    stop() {
      const after = machineCpu();
      const total = Math.max(1, after.total - before.total);
      return {
        idlePct: (100 * (after.idle - before.idle)) / total,
        stealPct: (100 * (after.steal - before.steal)) / total,
      };
    },
  };
}

/** Pids of processes whose command line contains `needle` (e.g. a server's unique db file), read-only. */
export function findPids(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(needle) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** True once `text` appears in the log file after byte `from` (so an earlier run's line does not count). */
export function logContains(logFile: string, text: string, from = 0): boolean {
  try {
    const fd = fs.openSync(logFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= from) return false;
      const buf = Buffer.alloc(size - from);
      fs.readSync(fd, buf, 0, buf.length, from);
      return buf.toString('utf8').includes(text);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Runs a benchmark's `main` and exits with its code. Bounded no matter what: past `budgetMs` a watchdog exits
 * (code 2), so a hung server never keeps the run, or CI, alive.
 */
export function runBounded(main: () => Promise<number>, budgetMs: number, say: (line: string) => void): void {
  const watchdog = setTimeout(() => {
    say('watchdog: the run exceeded its time budget; killing everything it started');
    process.exit(2);
  }, budgetMs);
  watchdog.unref();
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      say(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
