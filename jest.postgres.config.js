/**
 * The production profile: Quell split as deployed (`quell api` and `quell worker` processes) on Temporal Server
 * backed by PostgreSQL, one throwaway PostgreSQL and server per test file. Part of `npm test`, run after the
 * dev-server suite so its process-heavy drills have both cores.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  displayName: 'postgres',
  roots: ['<rootDir>/test/postgres'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test/postgres/global-setup.ts',
  globalTeardown: '<rootDir>/test/postgres/global-teardown.ts',
  testTimeout: 240_000,
  // Each file runs a PostgreSQL, a Temporal server and four Quell processes: one file at a time on two cores.
  maxWorkers: 1,
};
