/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against a real Quell: the
 * API with the console mounted, a worker on the Temporal dev server, and the lab estate behind the production
 * connectors. One incident is walked the way responders take it: seen live in the list, approved by two
 * distinct approvers (the same one twice is refused), contained in the lab, eradicated, reported, and its
 * signed audit bundle downloaded and verified. Its playbook (the shipped c2-traffic, given an `enrichment`
 * section and ticket sync here) looks its indicators up in the lab's VirusTotal and AbuseIPDB and mirrors it
 * to the lab's Jira, and the page shows both. Single sign-on runs against a local OpenID Connect issuer.
 */
import { existsSync, promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createApp } from '../../src/api/app';
import { AuthConfig, type AuthConfigInit } from '../../src/api/auth';
import { OidcVerifier } from '../../src/api/oidc';
import type { ApprovalDecision } from '../../src/domain/incident';
import { createSigner, readPublicKey, verifyBundle } from '../../src/audit/bundle';
import { createAuditService } from '../../src/audit/service';
import { createConnectors } from '../../src/connectors';
import { LAB_SEED_INDICATORS, startLabServer, type RunningLab } from '../../src/connectors/lab';
import { buildConsoleAssets, consoleRouter } from '../../src/console';
import { IncidentService } from '../../src/incidents/service';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { LocalIssuer } from '../api/support/oidc-issuer';
import { c2Alert } from '../support/alerts';
import { testLogger } from '../support/logger';
import { waitFor } from '../support/processes';
import { startTestWorker, testClient, type TestWorker } from '../support/temporal';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.resolve(__dirname, '../../test-output/console');

const TOKENS = {
  ingest: `console-ingest-${randomUUID()}`,
  rita: `console-rita-${randomUUID()}`,
  alice: `console-alice-${randomUUID()}`,
  bob: `console-bob-${randomUUID()}`,
};
// The server signs audit bundles (QUELL_AUDIT_SIGNING_KEY); the auditor trusts its public key.
const signingKey = generateKeyPairSync('ed25519');
const signer = createSigner(signingKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const auditPublicKey = signingKey.publicKey.export({ type: 'spki', format: 'pem' }).toString();

const STATIC_TOKENS: AuthConfigInit['tokens'] = {
  // An analyst who raises alerts by hand and is an approver: she may not approve what she raised.
  [TOKENS.ingest]: { subject: 'dana', roles: ['ingest', 'approver'] },
  [TOKENS.rita]: { subject: 'rita', roles: ['responder', 'auditor'] },
  [TOKENS.alice]: { subject: 'alice', roles: ['approver'] },
  [TOKENS.bob]: { subject: 'bob', roles: ['approver'] },
};

describe('the web console in chromium, against a real Quell on the Temporal dev server and the lab', () => {
  let lab: RunningLab;
  let dataDir: string;
  let worker: TestWorker;
  let client: Client;
  let server: Server;
  let baseUrl: string;
  let context: BrowserContext;
  let page: Page;
  let issuer: LocalIssuer;
  const cspViolations: string[] = [];
  const notModified: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `The console browser test drives ${CHROMIUM}, which is missing: install it with \`apt-get install chromium\`.`,
      );
    }
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-console-'));
    // Single sign-on: the console is the issuer's public client `quell-console`; the API accepts access tokens
    // for `quell-api`, so the console sends the access token.
    issuer = await LocalIssuer.start();
    await issuer.addKey('console-key');
    issuer.addUser({ sub: 'sam', groups: ['soc-approvers', 'soc-responders'] });
    const oidc = new OidcVerifier({
      issuer: issuer.url,
      audience: ['quell-api'],
      rolesClaim: 'groups',
      subjectClaim: 'sub',
      roleMap: { 'soc-approvers': ['approver'], 'soc-responders': ['responder'] },
      clockToleranceSeconds: 60,
      clientId: 'quell-console',
      scopes: 'openid profile',
    });
    const auth = new AuthConfig({ tokens: STATIC_TOKENS, oidc });
    lab = await startLabServer({ port: 0 });
    // The lab's threat intelligence (QUELL_INTEL defaults to it) and the lab's Jira.
    const connectors = createConnectors(
      { QUELL_HTTP_TIMEOUT_MS: '1000', QUELL_TICKETS: 'lab' },
      { dataDir, labUrl: lab.url },
    );
    // The shipped playbooks, with c2-traffic enriching its indicators and syncing a ticket. No enrichment
    // severity rules: the walk below relies on the incident staying medium (two approvers for the host).
    const playbooksDir = path.join(dataDir, 'playbooks');
    await fs.cp(path.resolve(__dirname, '../../playbooks'), playbooksDir, { recursive: true });
    await fs.appendFile(
      path.join(playbooksDir, 'c2-traffic.yaml'),
      'enrichment:\n  timeout: 10s\n  kinds: [ip, domain, file]\ntickets: { sync: true }\n',
    );
    worker = await startTestWorker({ activityDeps: { connectors } });
    client = await testClient();
    const app = createApp({
      client,
      incidents: new IncidentService(client, worker.taskQueue, await loadPlaybooks(playbooksDir)),
      taskQueue: worker.taskQueue,
      logger: testLogger(),
      auth,
      audit: createAuditService(client, { evidenceStore: connectors.evidence, signer }),
      consoleRouter: consoleRouter(await buildConsoleAssets(), { signIn: () => oidc.consoleSignIn() }),
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    await fs.mkdir(SCREENSHOTS, { recursive: true });
    context = await chromium.launchPersistentContext(path.join(dataDir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('response', (r) => {
      if (r.status() === 304 && r.url().includes('/api/v1/incidents')) notModified.push(r.url());
    });
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await worker?.stop();
    await client?.connection.close();
    await lab?.stop();
    await issuer?.close();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  const signIn = async (token: string, subject: string) => {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('who').filter({ hasText: subject }).waitFor();
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
  };
  const openIncident = async (incidentId: string) => {
    await page.locator(`[data-incident="${incidentId}"] a`).click();
    await page.getByRole('heading', { name: 'Approvals' }).waitFor();
  };

  it('serves the console with a strict CSP, and the list answers 304 to a matching If-None-Match', async () => {
    const res = await fetch(`${baseUrl}/console/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await res.text()).not.toMatch(/<script>|<style>|https?:\/\//);

    const me = await fetch(`${baseUrl}/api/v1/me`, { headers: { Authorization: `Bearer ${TOKENS.rita}` } });
    expect(await me.json()).toEqual({ subject: 'rita', roles: ['responder', 'auditor'] });

    // A page nothing can change (no such playbook): the second, conditional request is a 304.
    const list = `${baseUrl}/api/v1/incidents?playbook=no-such-playbook`;
    const first = await fetch(list, { headers: { Authorization: `Bearer ${TOKENS.rita}` } });
    expect(await first.json()).toEqual({ items: [] });
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await fetch(list, {
      headers: { Authorization: `Bearer ${TOKENS.rita}`, 'If-None-Match': etag! },
    });
    expect(again.status).toBe(304);
  });

  it('walks an incident: live in the list, two approvers (the same one twice refused), contained, checklist, report', async () => {
    await page.goto(`${baseUrl}/console/`);
    // By keyboard: type the token and press Enter.
    await page.getByLabel('API token').pressSequentially(TOKENS.rita);
    await page.getByLabel('API token').press('Enter');
    await page.getByTestId('who').filter({ hasText: 'rita' }).waitFor();
    await page.getByRole('heading', { name: 'Incidents' }).waitFor();

    // The alert arrives after the page is open; the list shows its incident without a reload.
    const tag = randomUUID().slice(0, 8);
    const host = `ws-console-${tag}`;
    const alert = c2Alert(host, {
      title: `C2 beaconing from ${host} <img src=x onerror=alert(1)>`,
      // The lab's ransomware sample, which the lab's VirusTotal knows as malware.
      files: [LAB_SEED_INDICATORS.badSha256],
    });
    const receipt = await fetch(`${baseUrl}/api/v1/alerts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKENS.ingest}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(alert),
    });
    expect(receipt.status).toBe(202);
    const { incidentId } = (await receipt.json()) as { incidentId: string };
    const row = page.locator(`[data-incident="${incidentId}"]`);
    await row.waitFor({ timeout: 15_000 });
    // Untrusted text is text: the title's markup is shown, never made into an element.
    await expect(row.locator('a').textContent()).resolves.toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('img').count()).toBe(0);
    // Its containment waits for approval, and the list says so.
    await row.locator('td[data-label="Approvals"]', { hasText: '1 pending' }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'incidents-list.png') });

    // Responders see the approval but cannot decide it.
    await openIncident(incidentId);
    // Focus moves to the new page's heading (keyboard users start there).
    await expect(page.evaluate<string>('document.activeElement.tagName')).resolves.toBe('H1');
    const card = page.locator('article.approval', { hasText: host });
    await card.waitFor({ timeout: 15_000 });
    await expect(card.getByText('Only approvers can decide this.').isVisible()).resolves.toBe(true);
    await expect(card.getByText('two distinct approvers; still needed: 2').isVisible()).resolves.toBe(true);

    // Threat intelligence from identification: the file hash with VirusTotal's verdict and a link to its
    // report (an http URL on the lab), the destination address with AbuseIPDB's.
    const intel = page.getByRole('region', { name: 'Threat intelligence' });
    await expect(intel.getByTestId('intel-status').textContent()).resolves.toMatch(
      /^Looked up .+ in (virustotal, abuseipdb|abuseipdb, virustotal)\.$/,
    );
    const fileRow = intel.locator(`tr[data-indicator="${LAB_SEED_INDICATORS.badSha256}"]`);
    await expect(fileRow.locator('td[data-label="Kind"]').textContent()).resolves.toBe('file hash');
    await expect(fileRow.locator('code').textContent()).resolves.toBe(LAB_SEED_INDICATORS.badSha256);
    await expect(fileRow.locator('[data-source="virustotal"]').textContent()).resolves.toMatch(
      /^VirusTotal: 58 malicious, 0 suspicious, 0 harmless, 14 undetected; reputation -87/,
    );
    const vtReport = fileRow.getByRole('link', { name: 'report' });
    await expect(vtReport.getAttribute('href')).resolves.toBe(
      `${lab.url}/virustotal/gui/file/${LAB_SEED_INDICATORS.badSha256}`,
    );
    await expect(vtReport.getAttribute('rel')).resolves.toBe('noopener noreferrer');
    const ipRow = intel.locator(`tr[data-indicator="${alert.ips![0]}"]`);
    await expect(ipRow.locator('[data-source="abuseipdb"]').textContent()).resolves.toMatch(/^AbuseIPDB: /);
    // The ticket the incident is mirrored to, its key a link to the lab's Jira.
    const ticket = page.getByTestId('ticket');
    await ticket.filter({ hasText: /\(jira, open\)/ }).waitFor({ timeout: 15_000 });
    await expect(ticket.textContent()).resolves.toMatch(/^Ticket: [A-Z][A-Z0-9]*-\d+ \(jira, open\)$/);
    const ticketHref = (await ticket.getByRole('link').getAttribute('href')) ?? '';
    expect(ticketHref.startsWith(`${lab.url}/`) && /\/browse\/[A-Z]/.test(ticketHref)).toBe(true);
    await intel.screenshot({ path: path.join(SCREENSHOTS, 'incident-intel.png') });
    // Nothing on the page links anywhere but http(s).
    expect(
      await page.locator('a[href]:not([href^="http:"]):not([href^="https:"]):not([href^="#"])').count(),
    ).toBe(0);
    await signOut();

    // Whoever raised the alert may not approve its containment.
    await signIn(TOKENS.ingest, 'dana');
    await openIncident(incidentId);
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText(/You raised or requested this action, so you may not approve it/).waitFor();
    await expect(card.getByText('still needed: 2').isVisible()).resolves.toBe(true);
    await signOut();

    // The first approver approves; approving again is refused in plain words.
    await signIn(TOKENS.alice, 'alice');
    await openIncident(incidentId);
    await card.getByLabel('Comment (optional)').fill('beaconing confirmed');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText('Your approval was recorded.').waitFor();
    await card.getByText('still needed: 1').waitFor();
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText(/already approved this\. It needs a second, different approver/).waitFor();
    await expect(card.getByTestId('approval-state').textContent()).resolves.toBe('pending');
    expect(lab.store.findHost(host, false)?.status ?? 'normal').toBe('normal');
    // The README's incident picture: the card with one approval in and the refusal shown.
    await card.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'incident-approval.png') });
    await signOut();

    // The second approver: the card turns approved and the host is contained in the lab.
    await signIn(TOKENS.bob, 'bob');
    await openIncident(incidentId);
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByTestId('approval-state').filter({ hasText: 'approved' }).waitFor({ timeout: 10_000 });
    await expect(card.getByText('Approved by alice').isVisible()).resolves.toBe(true);
    await expect(card.getByText('Approved by bob').isVisible()).resolves.toBe(true);
    const isolation = page.locator('table.actions tr', { hasText: 'Isolate host' });
    await isolation.getByTestId('action-state').filter({ hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    expect(lab.store.findHost(host, false)?.status).toBe('contained');
    await signOut();

    // The responder completes the eradication checklist and reads the report.
    await signIn(TOKENS.rita, 'rita');
    await openIncident(incidentId);
    const checklist = page.locator('section', {
      has: page.getByRole('heading', { name: 'Eradication checklist' }),
    });
    await checklist.getByRole('button', { name: 'Complete' }).first().waitFor({ timeout: 20_000 });
    while ((await checklist.getByRole('button', { name: 'Complete' }).count()) > 0) {
      const before = await checklist.locator('li.done').count();
      await checklist.getByRole('button', { name: 'Complete' }).first().click();
      await waitFor(
        async () => (await checklist.locator('li.done').count()) > before,
        10_000,
        'the checklist item completed',
      );
    }
    await expect(checklist.locator('li.done').count()).resolves.toBe(2);
    await page
      .getByTestId('phase')
      .filter({ hasText: /recovery|lessons learned/ })
      .waitFor({ timeout: 15_000 });

    await page.getByLabel('Add a note').fill('Implant was a scheduled task; removed.');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.locator('ul.notes li', { hasText: 'Implant was a scheduled task; removed.' }).waitFor();

    // The evidence collected in investigation, with its chain of custody from the evidence store.
    const custody = page.getByTestId('custody').first();
    await custody.waitFor({ timeout: 15_000 });
    await expect(custody.locator('li').allTextContents()).resolves.toEqual([
      expect.stringMatching(/^collected by .+/),
      expect.stringMatching(/^stored by .+ — write-once at file:/),
    ]);

    // Auditors see the timeline with the history event IDs each entry cites, and the refused attempts.
    await page.getByRole('button', { name: 'Show timeline' }).click();
    const approvedEntry = page.locator('table.timeline tr', { hasText: 'alice' }).first();
    await approvedEntry.waitFor();
    await expect(approvedEntry.locator('td').last().textContent()).resolves.toMatch(/^\d+(, \d+)*$/);
    await expect(page.locator('table.timeline').textContent()).resolves.toMatch(/dana/);

    await page.getByRole('button', { name: 'Show report' }).click();
    const report = page.getByTestId('report');
    await report.locator('h1, h2').first().waitFor();
    await expect(report.textContent()).resolves.toContain(incidentId);
    await expect(report.textContent()).resolves.toContain('alice');
    expect(await report.locator('img').count()).toBe(0);

    // The auditor saves the signed audit bundle, and it verifies as `quell audit verify` checks it.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download audit bundle' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${incidentId}.audit-bundle.json`);
    const saved = JSON.parse(await fs.readFile(await download.path(), 'utf8')) as unknown;
    const verified = await verifyBundle(saved, {
      trustedPublicKey: await readPublicKey(auditPublicKey),
      requireSignature: true,
    });
    expect(verified).toMatchObject({
      ok: true,
      incidentId,
      chain: { ok: true },
      signature: { status: 'valid', trusted: true },
      consistency: { status: 'match' },
    });
    await page.getByText(`Saved ${incidentId}.audit-bundle.json`).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'incident-page.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'incident-page-390.png') });
    await intel.screenshot({ path: path.join(SCREENSHOTS, 'incident-intel-390.png') });
    // Nothing wider than the phone's screen (the report's wide blocks scroll inside themselves).
    const tooWide = await page.evaluate<string[]>(
      `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('pre, .report table')).slice(0, 5).map((e) => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60))`,
    );
    expect(tooWide).toEqual([]);

    // The polling is conditional: while the incident waits for its recovery approvals, polls answer 304.
    await waitFor(async () => notModified.length > 0, 10_000, 'a 304 to the console polling');
    expect(cspViolations).toEqual([]);
  }, 90_000);

  it('signs in with single sign-on (authorization code with PKCE), and the decision is recorded as that person', async () => {
    const res = await fetch(`${baseUrl}/console/`);
    // The page may call the issuer's token endpoint, and nothing else outside its origin.
    expect(res.headers.get('content-security-policy')).toContain(`connect-src 'self' ${issuer.url};`);

    const tag = randomUUID().slice(0, 8);
    const host = `ws-sso-${tag}`;
    const receipt = await fetch(`${baseUrl}/api/v1/alerts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKENS.ingest}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(c2Alert(host)),
    });
    const { incidentId } = (await receipt.json()) as { incidentId: string };

    await page.goto(`${baseUrl}/console/`);
    await page.getByRole('button', { name: 'Sign in with single sign-on' }).click();
    // At the identity provider's login page, then back with a code the console exchanges.
    await page.getByRole('button', { name: 'Sign in as sam' }).click();
    await page.getByTestId('who').filter({ hasText: 'sam' }).waitFor();
    await expect(page.getByTestId('who').textContent()).resolves.toBe(
      'Signed in as sam (responder, approver)',
    );
    // The code and state left the address bar, the verifier left storage, and the exchange was the browser's.
    expect(page.url()).toBe(`${baseUrl}/console/`);
    await expect(page.evaluate<number>('sessionStorage.length + localStorage.length')).resolves.toBe(0);
    expect(issuer.tokenExchanges.at(-1)).toEqual({ status: 200, origin: baseUrl });

    // The SSO identity decides like any approver, and the incident records it by that subject.
    await openIncident(incidentId);
    const card = page.locator('article.approval', { hasText: host });
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText('Your approval was recorded.').waitFor();
    const incident = await fetch(`${baseUrl}/api/v1/incidents/${incidentId}`, {
      headers: { Authorization: `Bearer ${TOKENS.rita}` },
    });
    const state = (await incident.json()) as { approvals: { decisions: ApprovalDecision[] }[] };
    expect(state.approvals.flatMap((a) => a.decisions)).toContainEqual(
      expect.objectContaining({ decider: 'sam', decision: 'approve', roles: ['responder', 'approver'] }),
    );

    // The token lived in the page only: a reload signs out.
    await page.reload();
    await page.getByRole('button', { name: 'Sign in with single sign-on' }).waitFor();

    // A redirect this page did not start (a forged or replayed callback) is refused, and nothing is exchanged.
    const exchanges = issuer.tokenExchanges.length;
    await page.goto(`${baseUrl}/console/?code=stolen-code&state=forged-state`);
    await page.getByTestId('sso-error').filter({ hasText: 'state mismatch' }).waitFor();
    expect(page.url()).toBe(`${baseUrl}/console/`);
    expect(issuer.tokenExchanges.length).toBe(exchanges);
    expect(cspViolations).toEqual([]);
  }, 60_000);
});
