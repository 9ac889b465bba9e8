/** What the production profile's global setup hands to its test files (beside test/support/env.ts). */
export const PG_TEST_ENV = {
  /** The directory holding temporal-server, temporal-sql-tool, the schema files and the sample config. */
  serverDir: 'QUELL_TEST_TEMPORAL_SERVER_DIR',
} as const;
