/** Environment variables the global setup hands to every test worker. */
export const TEST_ENV = {
  address: 'QUELL_TEST_TEMPORAL_ADDRESS',
  namespace: 'QUELL_TEST_TEMPORAL_NAMESPACE',
  bundle: 'QUELL_TEST_WORKFLOW_BUNDLE',
  cliPath: 'QUELL_TEST_TEMPORAL_CLI',
  stateFile: 'QUELL_TEST_STATE_FILE',
} as const;

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest (the global setup sets it).`);
  return value;
}
