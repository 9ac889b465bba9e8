import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/temporal/dev-server';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { findProcesses, waitFor } from '../support/processes';
import { spawnStart, type StartedQuell } from '../support/quell-process';

const execFileAsync = promisify(execFile);

/**
 * Runs `quell start` exactly as a user does, on an embedded dev server of its own. The API takes port 0: it
 * listens seconds after start, and a port picked here first could be taken by a parallel test by then.
 */
async function startQuell(dataDir: string, env?: Record<string, string>): Promise<StartedQuell> {
  return spawnStart({
    dataDir,
    cliPath: requireEnv(TEST_ENV.cliPath),
    apiPort: 0,
    temporalPort: await freePort(),
    ...(env ? { env } : {}),
  });
}

describe('quell start (the README first command)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-start-'));
  });
  afterEach(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('serves the API on an embedded Temporal, then stops everything on SIGINT', async () => {
    // Tuned as a platform engineer would (README, "Tuning workers"): the banner shows what the worker took.
    const quell = await startQuell(dataDir, {
      QUELL_WORKER_ACTIVITY_SLOTS: '24',
      QUELL_WORKER_WORKFLOW_POLLERS: '6',
    });
    try {
      expect(quell.output()).toMatch(
        /Worker: {6}polling task queue "[^"]+" \(40 workflow-task slots, 24 activity slots, 6 workflow \/ 10 activity pollers, \d+ incidents cached; QUELL_WORKER_\* to tune\)/,
      );
      expect(quell.output()).toContain(`Temporal:    127.0.0.1:${quell.temporalPort}`);
      expect(quell.output()).toContain(`API:         ${quell.apiUrl}`);
      expect((await fetch(`${quell.apiUrl}/healthz`)).status).toBe(200);
      // The banner's console URL serves the console's page, which loads its bundle from the same origin.
      expect(quell.output()).toContain(`Console:     ${quell.apiUrl}/console/`);
      expect(quell.output()).toContain(`Codec:       ${quell.apiUrl}/api/v1/codec  (payload encryption off`);
      expect(quell.output()).toContain('Slack:       approvals off (set QUELL_SLACK_SIGNING_SECRET');
      const page = await fetch(`${quell.apiUrl}/console/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script defer src="/console/app.js"></script>');
      expect((await fetch(`${quell.apiUrl}/console/app.js`)).status).toBe(200);
      const ready = await waitFor(
        async () => {
          const res = await fetch(`${quell.apiUrl}/readyz`);
          return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
        },
        30_000,
        'readiness',
      );
      expect(ready).toMatchObject({ ready: true });

      const alert = genericAlert();
      // Development mode prints one demo token per role.
      const token = (role: string) =>
        new RegExp(`^\\s+${role}\\s+(\\S+)$`, 'm').exec(quell.output())?.[1] ?? '';
      expect(token('ingest')).not.toBe('');
      const posted = await fetch(`${quell.apiUrl}/api/v1/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token('ingest')}` },
        body: JSON.stringify(alert),
      });
      expect(posted.status).toBe(202);
      const receipt = (await posted.json()) as { incidentId: string };
      const incident = await fetch(`${quell.apiUrl}/api/v1/incidents/${receipt.incidentId}`, {
        headers: { authorization: `Bearer ${token('responder')}` },
      });
      expect((await fetch(`${quell.apiUrl}/api/v1/incidents/${receipt.incidentId}`)).status).toBe(401);
      expect(incident.status).toBe(200);
      expect(await incident.json()).toMatchObject({ incidentId: receipt.incidentId, title: alert.title });
      // The banner's "Try:" line works pasted into a shell as printed.
      const tryLine = /^\s+Try:\s+(curl .*)$/m.exec(quell.output())?.[1];
      expect(tryLine).toBeDefined();
      const tried = await execFileAsync('sh', ['-c', `${tryLine!} -w '\n%{http_code}'`], {
        cwd: os.tmpdir(),
      });
      expect(tried.stdout.trim().split('\n').pop()).toBe('202');
      // The embedded server persists to the data dir.
      await expect(fs.stat(path.join(dataDir, 'temporal.sqlite'))).resolves.toBeTruthy();
    } finally {
      quell.child.kill('SIGINT');
    }
    expect((await quell.exited).code).toBe(0);
    expect(quell.output()).toContain('stopped cleanly');
    expect(await findProcesses('start-dev', `--port ${quell.temporalPort}`)).toEqual([]);
  });

  it('leaves no Temporal server behind when it is killed outright', async () => {
    const quell = await startQuell(dataDir);
    expect(await findProcesses('start-dev', `--port ${quell.temporalPort}`)).not.toEqual([]);
    quell.child.kill('SIGKILL');
    await quell.exited;
    await waitFor(
      async () => (await findProcesses('start-dev', `--port ${quell.temporalPort}`)).length === 0,
      20_000,
      'the orphaned dev server to be stopped by its guardian',
    );
  });
});
