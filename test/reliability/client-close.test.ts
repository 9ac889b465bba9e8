import { spawn } from 'node:child_process';
import path from 'node:path';
import { requireEnv, TEST_ENV } from '../support/env';

const ROOT = path.resolve(__dirname, '..', '..');

interface FixtureRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runFixture(): Promise<FixtureRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', 'tsx/cjs', path.join(__dirname, 'fixtures', 'close-while-retrying.ts')],
      {
        cwd: ROOT,
        env: { ...process.env, TEMPORAL_CLI_PATH: requireEnv(TEST_ENV.cliPath) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe("closing Quell's Temporal client while calls are in flight or retrying", () => {
  it('ends every pending call as a failed call with a clear error, never as an uncaught exception', async () => {
    const run = await runFixture();
    expect(run.stderr).not.toMatch(/uncaught|unhandled|Channel has been shut down/i);
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<
      string,
      { rejected?: string; name?: string }
    >;
    // A long poll on the wire when the close's grace ran out.
    expect(results.onTheWire?.rejected).toMatch(
      /UNAVAILABLE: Temporal client closed before the call finished/,
    );
    // A call issued after the close began is never sent.
    expect(results.afterClose?.rejected).toMatch(
      /UNAVAILABLE: Temporal client closed: the call was not sent/,
    );
    // Calls waiting out a retry back-off end with the failure they would have retried, and say why.
    expect(results.count?.rejected).toMatch(/UNAVAILABLE: .*\(not retried: the Temporal client is closing\)/);
    // Through IncidentService, as the API sees them: Temporal unavailable (a 503 with Retry-After).
    expect(results.list).toMatchObject({ name: 'TemporalUnavailableError' });
    expect(results.ingest).toMatchObject({ name: 'TemporalUnavailableError' });
  }, 90_000);
});
