// The import boundaries in eslint.config.mjs: a wrong import in each layer is an error, the allowed ones are not, and the tree as it stands is clean.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const rule = '@typescript-eslint/no-restricted-imports';

/**
 * ESLint runs in a child process: its config is an ES module, which jest's CommonJS runtime cannot import.
 * One process lints every case (as if it were the file at its path) and the layers as they stand.
 */
function lintInChild(cases: Array<[file: string, code: string]>): { cases: string[][]; tree: string[] } {
  const script = `
    import path from 'node:path';
    import { ESLint } from 'eslint';
    const eslint = new ESLint({ cwd: process.cwd() });
    const cases = JSON.parse(process.env.CASES);
    const pick = (r) => r.messages.filter((m) => m.ruleId === ${JSON.stringify(rule)});
    const out = { cases: [], tree: [] };
    for (const [file, code] of cases) {
      const [r] = await eslint.lintText(code, { filePath: path.resolve(file) });
      out.cases.push(pick(r).map((m) => m.message));
    }
    for (const r of await eslint.lintFiles(['workflows', 'activities', 'shared'])) {
      for (const m of pick(r)) out.tree.push(path.relative(process.cwd(), r.filePath) + ':' + m.line + ' ' + m.message);
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, CASES: JSON.stringify(cases) },
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as { cases: string[][]; tree: string[] };
}

const refused: Array<[string, string]> = [
  ['workflows/x.ts', "import fs from 'node:fs';"],
  ['workflows/x.ts', "import { recordStatus } from '../activities/leads';"],
  ['workflows/x.ts', "import mongoose from 'mongoose';"],
  ['workflows/x.ts', "import { connectDb } from '../shared/db';"],
  ['workflows/x.ts', "import { logger } from '../shared/logger';"],
  ['shared/x.ts', "import { createGateway } from '../apps/gateway/app';"],
  ['shared/x.ts', "import { createActivities } from '../activities';"],
  ['shared/x.ts', "import { leadWorkflow } from '../workflows/lead';"],
  ['activities/x.ts', "import { createGateway } from '../apps/gateway/app';"],
];

const allowed: Array<[string, string]> = [
  ['workflows/x.ts', "import { condition } from '@temporalio/workflow';"],
  ['workflows/x.ts', "import { ApplicationFailure } from '@temporalio/common';"],
  ['workflows/x.ts', "import { canTransition } from '../shared/statuses';"],
  ['workflows/x.ts', "import { orderCandidates } from './routing';"],
  ['workflows/x.ts', "import type { LeadSnapshot } from '../activities/types';"],
  ['activities/x.ts', "import { connectDb } from '../shared/db';"],
  ['apps/x.ts', "import { createActivities } from '../activities';"],
];

describe('import boundaries', () => {
  let linted: ReturnType<typeof lintInChild>;
  beforeAll(() => {
    linted = lintInChild([...refused, ...allowed]);
  }, 60_000);

  it.each(refused.map((c, i) => [...c, i] as const))('%s may not say %s', (_file, _code, i) => {
    expect(linted.cases[i]).toHaveLength(1);
  });

  it.each(allowed.map((c, i) => [...c, refused.length + i] as const))('%s may say %s', (_file, _code, i) => {
    expect(linted.cases[i]).toEqual([]);
  });

  it('holds for every file in workflows/, activities/ and shared/ today', () => {
    expect(linted.tree).toEqual([]);
  });
});
