// The kept workflow bundle (apps/worker/bundle.ts): loaded while its inputs are unchanged, bundled again when any
// of them changes, and a worker runs on when it cannot keep one. Webpack runs for real on a copy of the workflows.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { keepWorkflowBundle, loadWorkflowBundle, packagesIn } from '../../apps/worker/bundle';

const root = path.resolve(__dirname, '..', '..');
// Inside the repository (its .cache is ignored by git), so webpack finds the packages in node_modules above it.
const scratch = path.join(root, '.cache', `bundle-test-${crypto.randomUUID()}`);
const codeRoot = path.join(scratch, 'code');
const cacheDir = path.join(scratch, 'kept');
const workflowsPath = path.join(codeRoot, 'workflows', 'index.ts');

beforeAll(() => {
  for (const dir of ['workflows', 'shared', 'activities'])
    fs.cpSync(path.join(root, dir), path.join(codeRoot, dir), { recursive: true });
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const load = () => loadWorkflowBundle({ workflowsPath, cacheDir });

test('bundled once, then loaded while its inputs are unchanged; bundled again when one changes', async () => {
  const first = await load();
  expect(first.from).toBe('built');
  expect(first.bundle.code).toContain('leadWorkflow');
  expect(fs.readdirSync(cacheDir).filter((f) => f.endsWith('.json'))).toHaveLength(1);

  const second = await load();
  expect(second.from).toBe('cache');
  expect(second.bundle.code).toBe(first.bundle.code);

  // A change in shared/ (imported by the workflows) is a new bundle, never the stale one.
  const statuses = path.join(codeRoot, 'shared', 'statuses.ts');
  fs.appendFileSync(statuses, '\nexport const bundleTestMarker = "changed";\n');
  const changed = await load();
  expect(changed.from).toBe('built');
  expect(changed.bundle.code).not.toBe(first.bundle.code);
  expect((await load()).from).toBe('cache');

  // So is a change of the activities' types, which workflow code imports.
  fs.appendFileSync(path.join(codeRoot, 'activities', 'types.ts'), '\nexport type BundleTestMarker = 1;\n');
  expect((await load()).from).toBe('built');
  expect((await load()).from).toBe('cache');

  // And a new file under workflows/, even one nothing imports yet.
  fs.writeFileSync(path.join(codeRoot, 'workflows', 'new-step.ts'), 'export const x = 1;\n');
  expect((await load()).from).toBe('built');
  expect((await load()).from).toBe('cache');

  // A kept file that is not whole (a disk filled mid-write elsewhere) is bundled over.
  const [kept] = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.json'));
  fs.writeFileSync(path.join(cacheDir, kept as string), '{"key":');
  expect((await load()).from).toBe('built');
  expect((await load()).from).toBe('cache');
});

test('a bundle that cannot be kept is still returned, and the failure told', async () => {
  // The folder cannot be created: a file stands where its parent should be.
  const blocked = path.join(scratch, 'a-file');
  fs.mkdirSync(scratch, { recursive: true });
  fs.writeFileSync(blocked, '');
  const failures: unknown[] = [];
  const loaded = await loadWorkflowBundle({
    workflowsPath,
    cacheDir: path.join(blocked, 'kept'),
    onKeepFailed: (err) => failures.push(err),
  });
  expect(loaded.from).toBe('built');
  expect(loaded.bundle.code).toContain('leadWorkflow');
  expect(failures).toHaveLength(1);
  expect(String(failures[0])).toMatch(/ENOTDIR/);
});

test('the packages a bundle holds are read from its source map: part of its key', async () => {
  const { bundle } = await load();
  expect(packagesIn(bundle.code)).toEqual(
    expect.arrayContaining(['@temporalio/workflow', '@temporalio/common']),
  );
  expect(packagesIn('no map here')).toEqual([]);
});

test("the build's step keeps the bundle, says so, and fails when it cannot keep it", async () => {
  const kept = path.join(scratch, 'build-kept');
  expect(await keepWorkflowBundle({ workflowsPath, cacheDir: kept })).toMatch(
    /^workflow bundle (built|up to date) in \d+ ms$/,
  );
  expect(await keepWorkflowBundle({ workflowsPath, cacheDir: kept })).toMatch(
    /^workflow bundle up to date in/,
  );
  const blocked = path.join(scratch, 'build-blocked');
  fs.writeFileSync(blocked, '');
  await expect(keepWorkflowBundle({ workflowsPath, cacheDir: path.join(blocked, 'kept') })).rejects.toThrow(
    /ENOTDIR/,
  );
});
