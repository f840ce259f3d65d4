// Progress of a long operation: a redrawn bar on a terminal, a line every few percent elsewhere (logs, CI).
export interface Progress {
  tick(note?: string): void;
  done(): void;
}

export function progress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  total: number,
  label: string,
): Progress {
  let n = 0;
  let lastPct = -1;
  const line = () => {
    const pct = total ? Math.floor((n / total) * 100) : 100;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total} ${pct}%`;
  };
  return {
    tick(note) {
      n += 1;
      if (stream.isTTY) {
        stream.write(`\r${line()}${note ? ` ${note}` : ''}\x1b[K`);
        return;
      }
      const pct = total ? Math.floor((n / total) * 100) : 100;
      if (pct >= lastPct + 10 || n === total || note) {
        lastPct = pct;
        stream.write(`${line()}${note ? ` ${note}` : ''}\n`);
      }
    },
    done() {
      if (stream.isTTY) stream.write('\n');
    },
  };
}
