#!/usr/bin/env node
// `npx leadrouter ...`: runs the CLI from the TypeScript source in a checkout (through tsx), else from the compiled build.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const source = path.join(root, 'apps', 'cli', 'main.ts');
const compiled = path.join(root, 'dist', 'apps', 'cli', 'main.js');

let cli;
if (fs.existsSync(source)) {
  require('tsx/cjs/api').register();
  cli = require(source);
} else if (fs.existsSync(compiled)) {
  cli = require(compiled);
} else {
  console.error('leadrouter: neither apps/cli/main.ts nor a build (npm run build) was found');
  process.exit(2);
}
cli.main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`leadrouter: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
