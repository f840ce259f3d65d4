// Three projects: unit (pure code), workflow (time-skipping test server), e2e (real dev servers over HTTP).
// Coverage (`npm test`) is measured over the product code only; docs/testing.md has the figures.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
};
/** Workers of these projects run the workflow bundle; under coverage it is instrumented too. */
const setupFilesAfterEnv = ['<rootDir>/test/support/workflow-coverage.ts'];

/** @type {import('jest').Config} */
module.exports = {
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
    },
    {
      displayName: 'workflow',
      testMatch: ['<rootDir>/test/workflow/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      setupFilesAfterEnv,
    },
    {
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      setupFilesAfterEnv,
    },
  ],
  testTimeout: 60000,
  collectCoverageFrom: [
    '<rootDir>/apps/**/*.ts',
    '<rootDir>/activities/**/*.ts',
    '<rootDir>/workflows/**/*.ts',
    '<rootDir>/shared/**/*.ts',
  ],
  coverageReporters: ['text-summary', 'json-summary', 'text'],
  // The floor CI enforces (npm test): a little under what was measured (docs/testing.md), so a
  // drop fails the run and ordinary run-to-run noise does not. Raise it as tests are added; never lower it.
  coverageThreshold: { global: { branches: 87, statements: 93, functions: 94, lines: 95 } },
};
