/**
 * The codec server as the Temporal UI uses it, on `quell start` with encryption on and the embedded dev
 * server's UI running: the dev server's UI is pointed at Quell's codec endpoint, its origin may call it (CORS),
 * and the encrypted payloads Temporal stores (read with a client that has no codec, as the UI reads them) come
 * back as plaintext for an auditor and not at all for an ingest token. Then the UI itself in chromium: the
 * decrypted input with an auditor's bearer, ciphertext without one (screenshots in test-output/codec/).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportIncidentHistory } from '../../src/audit/history';
import { encryptionKeyIdsIn, forEachPayload } from '../../src/audit/payloads';
import { freePort } from '../../src/temporal/dev-server';
import { chromium } from 'playwright-core';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { waitFor } from '../support/processes';
import { spawnStart, type StartedQuell } from '../support/quell-process';
import { testClient } from '../support/temporal';

interface PayloadJson {
  metadata: Record<string, string>;
  data?: string;
}
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.resolve(__dirname, '../../test-output/codec');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

describe('codec server on quell start (encryption on, embedded Temporal UI)', () => {
  const keyId = 'codec-it';
  let dataDir: string;
  let quell: StartedQuell;
  let uiUrl: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-codec-'));
    quell = await spawnStart({
      dataDir,
      cliPath: requireEnv(TEST_ENV.cliPath),
      // Known before the API listens: the dev server's UI is started with it as its codec endpoint.
      apiPort: await freePort(),
      temporalPort: await freePort(),
      env: {
        QUELL_ENCRYPTION_KEY: `${keyId}:${randomBytes(32).toString('base64')}`,
        QUELL_INCIDENT_ID_KEY: randomBytes(32).toString('base64'),
        QUELL_TEMPORAL_HEADLESS: '0',
        QUELL_TEMPORAL_UI_PORT: String(await freePort()),
        QUELL_WORKFLOW_BUNDLE: requireEnv(TEST_ENV.bundle),
      },
    });
    uiUrl = /Temporal UI: (http:\/\/\S+)/.exec(quell.output())?.[1] ?? '';
  }, 120_000);

  /** Sends the alert with the ingest token; its receipt (a 202). */
  async function ingest(alert: object): Promise<{ incidentId: string; workflowId: string }> {
    const posted = await fetch(`${quell.apiUrl}/api/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${quell.token('ingest')}` },
      body: JSON.stringify(alert),
    });
    expect(posted.status).toBe(202);
    return (await posted.json()) as { incidentId: string; workflowId: string };
  }

  it('the banner names the codec endpoint and the key new payloads are sealed with', () => {
    expect(quell.output()).toContain(
      `Codec:       ${quell.apiUrl}/api/v1/codec  (payloads encrypted with key "${keyId}"`,
    );
  });

  afterAll(async () => {
    if (quell) {
      quell.child.kill('SIGINT');
      await quell.exited;
    }
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("starts the dev server's UI with Quell's codec endpoint and lets its origin call it", async () => {
    expect(uiUrl).not.toBe('');
    const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as {
      Codec?: { Endpoint?: string };
    };
    expect(settings.Codec?.Endpoint).toBe(`${quell.apiUrl}/api/v1/codec`);
    const preflight = await fetch(`${quell.apiUrl}/api/v1/codec/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: uiUrl,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(uiUrl);
  });

  it("decrypts the incident's stored payloads for an auditor; 403 for an ingest token", async () => {
    const alert = genericAlert();
    const host = alert.hosts![0]!;
    const { incidentId } = await ingest(alert);

    // What Temporal holds and the UI is sent: a client without the codec.
    const raw = await testClient({ address: `127.0.0.1:${quell.temporalPort}`, namespace: 'default' });
    const payloads: PayloadJson[] = [];
    try {
      const history = await waitFor(
        async () => {
          const exported = await exportIncidentHistory(raw, incidentId).catch(() => undefined);
          const run = exported?.runs[0]?.history;
          return run && run.events.length > 3 ? run : undefined;
        },
        30_000,
        'the incident history',
      );
      expect(encryptionKeyIdsIn(history)).toEqual([keyId]);
      // Every payload the UI would show (search attributes are plain: no codec sees them).
      forEachPayload(history.events, (p) => {
        if (unb64(p.metadata?.encoding) === 'binary/encrypted') payloads.push(p as PayloadJson);
      });
    } finally {
      await raw.connection.close();
    }
    expect(payloads.length).toBeGreaterThan(0);
    expect(unb64(payloads[0]!.metadata.encoding)).toBe('binary/encrypted');
    expect(payloads.map((p) => unb64(p.data)).join('')).not.toContain(host);

    const decode = (token: string) =>
      fetch(`${quell.apiUrl}/api/v1/codec/decode`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-namespace': 'default',
          authorization: `Bearer ${token}`,
          origin: uiUrl,
        },
        body: JSON.stringify({ payloads }),
      });
    const asAuditor = await decode(quell.token('auditor'));
    expect(asAuditor.status).toBe(200);
    expect(asAuditor.headers.get('access-control-allow-origin')).toBe(uiUrl);
    const decoded = ((await asAuditor.json()) as { payloads: PayloadJson[] }).payloads;
    expect(decoded).toHaveLength(payloads.length);
    expect(decoded.map((p) => unb64(p.metadata.encoding))).toContain('json/plain');
    expect(decoded.every((p) => unb64(p.metadata.encoding) !== 'binary/encrypted')).toBe(true);
    const plaintext = decoded.map((p) => unb64(p.data)).join('\n');
    expect(plaintext).toContain(host);
    expect(plaintext).toContain(alert.title);
    // The workflow's input, as the UI shows it for the first event: JSON again.
    expect(JSON.parse(unb64(decoded[0]!.data))).toMatchObject({
      correlationKey: expect.stringContaining(host),
    });

    const asIngest = await decode(quell.token('ingest'));
    expect(asIngest.status).toBe(403);
    expect(await asIngest.text()).not.toContain(host);
    expect((await decode('not-a-token-0000000000000000')).status).toBe(401);
  });

  it('the Temporal UI in chromium shows the decrypted input with an authorized bearer, and not without', async () => {
    const alert = genericAlert();
    const host = alert.hosts![0]!;
    const { workflowId } = await ingest(alert);
    await fs.mkdir(SCREENSHOTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const open = async (bearer?: string) => {
        const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
        const codecStatuses: number[] = [];
        // Stands in for a UI with OIDC sign-in and TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true: the dev server's UI
        // has no sign-in, so its user's token is added on the way out.
        if (bearer)
          await context.route(`${quell.apiUrl}/api/v1/codec/**`, (route) =>
            route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${bearer}` } }),
          );
        const page = await context.newPage();
        page.on('response', (r) => {
          if (r.url().startsWith(`${quell.apiUrl}/api/v1/codec/`) && r.request().method() === 'POST')
            codecStatuses.push(r.status());
        });
        await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
        return { context, page, codecStatuses };
      };

      const auditor = await open(quell.token('auditor'));
      await auditor.page.getByText(host).first().waitFor({ timeout: 30_000 });
      expect(auditor.codecStatuses).toContain(200);
      await auditor.page.screenshot({
        path: path.join(SCREENSHOTS, 'temporal-ui-decoded.png'),
        fullPage: true,
      });
      await auditor.context.close();

      const anonymous = await open();
      await waitFor(async () => anonymous.codecStatuses.length > 0, 30_000, 'the UI to call the codec');
      expect(anonymous.codecStatuses.every((s) => s === 401)).toBe(true);
      // UI 2.42.1 then shows the stored (encrypted) payload and says the codec server failed.
      await anonymous.page
        .locator('text=Codec Server could not connect >> visible=true')
        .first()
        .waitFor({ timeout: 30_000 });
      await anonymous.page
        .locator(`text=${b64('binary/encrypted')} >> visible=true`)
        .first()
        .waitFor({ timeout: 10_000 });
      expect(await anonymous.page.content()).not.toContain(host);
      await anonymous.page.screenshot({
        path: path.join(SCREENSHOTS, 'temporal-ui-unauthenticated.png'),
        fullPage: true,
      });
      await anonymous.context.close();
    } finally {
      await browser.close();
    }
  }, 90_000);
});
