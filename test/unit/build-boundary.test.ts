// The production build (tsconfig.build.json, what the image runs) compiles product code only: nothing under scripts/, test/ or bench/ may be reachable from it.
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');

function buildFiles(): string[] {
  const configFile = path.join(root, 'tsconfig.build.json');
  const read = ts.readConfigFile(configFile, (file) => ts.sys.readFile(file));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root);
  // Every file the compiler would emit: the include list plus whatever those files import.
  const program = ts.createProgram({
    rootNames: parsed.fileNames,
    options: { ...parsed.options, noEmit: true },
  });
  return program
    .getSourceFiles()
    .map((f) => path.relative(root, f.fileName))
    .filter((f) => !f.startsWith('..') && !f.includes('node_modules'));
}

test('the production build reaches no dev-only, test or benchmark code', () => {
  const files = buildFiles();
  expect(files).toEqual(expect.arrayContaining(['apps/gateway/main.ts', 'apps/worker/main.ts']));
  expect(files.filter((f) => /^(test|bench|scripts)\//.test(f))).toEqual([]);
}, 120_000);
