// The unit tests of the pure modules StrykerJS mutates (stryker.config.json): no servers, so no global setup.
// The property tests of money, signature and the status map (1000 runs each) are left out: on two shared cores
// they made a run take hours; the example tests must kill mutants on their own.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
  },
  testMatch: [
    '<rootDir>/test/unit/{status-map,money,signature,fuzz-macros,config,decide,routing-answers}.test.ts',
  ],
};
