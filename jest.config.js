/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The production profile (Temporal on PostgreSQL) has its own config: jest.postgres.config.js.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/postgres/'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
    // jose ships only ES modules, which jest's CommonJS runtime cannot load (before Node 24.9): compiled here.
    '/node_modules/jose/.+\\.js$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  moduleFileExtensions: ['ts', 'js', 'json', 'cjs'],
  // One Temporal dev server for the whole run: started here, always stopped in teardown (and by its guardian
  // if jest itself dies).
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  // Two cores: integration tests share one server; more workers only contend for the CPU.
  maxWorkers: 2,
  reporters: ['default'],
};
