// The `leadrouter` command run in this process (no child start-up), its output captured.
import { Writable } from 'node:stream';
import { main } from '../../apps/cli/main';

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

/** `env` is the whole environment the command sees (nothing of this process's). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = capture();
  const err = capture();
  const code = await main(args, { out: out.stream, err: err.stream, env });
  return { code, stdout: out.text(), stderr: err.text() };
}
