import { createHash } from 'node:crypto';
import { DefenderEdr } from '../../src/connectors/edr/defender';
import { LAB_CREDENTIALS, type RunningLab, labInvestigationPackage } from '../../src/connectors/lab';
import type { EdrResponseActions } from '../../src/connectors/types';
import {
  ERROR_NAMES,
  actionCtx,
  expectConnectorError,
  json,
  labAllowList,
  startContractServer,
  uniqueHost,
  useLab,
} from './support';

// Actions take 300 ms in this lab: Pending for 150, InProgress for 150.
const ctl = useLab({ responseActionDelayMs: 300 });

const SHA1 = 'A94A8FE5CCB19BA61C4C0873D391E987982FBBD3';
const SHA256 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

function mde(
  opts: { actionWaitMs?: number; packageMaxBytes?: number; lab?: RunningLab } = {},
): EdrResponseActions {
  const lab = opts.lab ?? ctl.lab;
  const { tenantId, clientId, clientSecret } = LAB_CREDENTIALS.azure;
  const edr = new DefenderEdr({
    baseUrl: `${lab.url}/defender`,
    tokenUrl: `${lab.url}/azuread/{tenant}/oauth2/v2.0/token`,
    tenantId,
    clientId,
    clientSecret,
    allowList: labAllowList(lab),
    timeoutMs: 2_000,
    actionWait: { pollIntervalMs: 20, ...(opts.actionWaitMs ? { actionWaitMs: opts.actionWaitMs } : {}) },
    ...(opts.packageMaxBytes ? { packageMaxBytes: opts.packageMaxBytes } : {}),
  });
  return edr.responseActions;
}

const calls = () => ctl.lab.store.calls({ vendor: 'defender' }).length;
const actionsOf = (host: string, type: string) =>
  ctl.lab.store.machineActions(ctl.lab.store.findHost(host)!.machineId).filter((a) => a.type === type);

describe('Defender response actions against the lab', () => {
  it('runs a full scan, waits for Succeeded, and names the incident', async () => {
    const host = uniqueHost();
    const ctx = actionCtx(undefined, 'post-containment sweep');
    const res = await mde().runAntivirusScan(host, { scanType: 'full' }, ctx);
    expect(res.alreadyInState).toBe(false);
    const action = ctl.lab.store.machineAction(res.vendorRef!)!;
    expect(action).toMatchObject({ type: 'RunAntiVirusScan', scope: 'Full', status: 'Succeeded' });
    expect(action.requestorComment).toContain(`Quell incident ${ctx.incidentId}: post-containment sweep`);
    const [entry, ...rest] = ctl.lab.store.ledger({ target: host });
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({
      effect: 'scan',
      vendorAction: 'RunAntiVirusScan',
      vendorRef: res.vendorRef,
    });
    // It was polled through its states, not only created.
    const polls = ctl.lab.store.calls({ vendor: 'defender', method: 'GET', pathIncludes: res.vendorRef! });
    expect(polls.length).toBeGreaterThan(1);
  });

  it('a retried call (same idempotency key) waits for its first action instead of starting another', async () => {
    const host = uniqueHost();
    const ctx = actionCtx();
    const first = await mde().runAntivirusScan(host, { scanType: 'quick' }, ctx);
    const again = await mde().runAntivirusScan(host, { scanType: 'quick' }, ctx);
    expect(again).toEqual(first);
    expect(actionsOf(host, 'RunAntiVirusScan')).toHaveLength(1);
  });

  it('joins a scan already in progress (another caller) rather than starting a second', async () => {
    const host = uniqueHost();
    const a = mde().runAntivirusScan(host, { scanType: 'quick' }, actionCtx());
    await new Promise((r) => setTimeout(r, 120));
    const b = await mde().runAntivirusScan(host, { scanType: 'full' }, actionCtx());
    const first = await a;
    expect(first.alreadyInState).toBe(false);
    expect(b).toEqual({ alreadyInState: true, vendorRef: first.vendorRef });
    expect(actionsOf(host, 'RunAntiVirusScan')).toHaveLength(1);
  });

  it('treats 400 "already in progress" with no action listed to wait for as transient', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'defender', pathPattern: '/runAntiVirusScan$', method: 'POST' },
      fault: 'in_progress',
      times: 1,
    });
    await expectConnectorError(
      mde().runAntivirusScan(uniqueHost(), { scanType: 'quick' }, actionCtx()),
      'transient',
      ERROR_NAMES.transient,
    );
  });

  it('quarantines a file by SHA-1 (lower-cased), recorded on the host', async () => {
    const host = uniqueHost();
    const ctx = actionCtx();
    const res = await mde().quarantineFile(host, { sha1: SHA1, sha256: SHA256 }, ctx);
    expect(res.alreadyInState).toBe(false);
    const action = ctl.lab.store.machineAction(res.vendorRef!)!;
    expect(action).toMatchObject({
      type: 'StopAndQuarantineFile',
      status: 'Succeeded',
      relatedFileInfo: { fileIdentifier: SHA1.toLowerCase(), fileIdentifierType: 'Sha1' },
    });
    const shown = ctl.lab.store.snapshot().hosts.find((h) => h.name === host)!;
    expect(shown.quarantinedFiles).toEqual([
      expect.objectContaining({ sha1: SHA1.toLowerCase(), vendorRef: res.vendorRef }),
    ]);
    expect(ctl.lab.store.ledger({ target: host, effect: 'quarantine_file' })).toHaveLength(1);
    // Defender has no undo for it in the API.
    expect('releaseQuarantinedFile' in mde()).toBe(false);
  });

  it('refuses bad hashes, and a SHA-256 alone, before any call', async () => {
    const before = calls();
    for (const file of [{ sha1: 'xyz' }, { sha1: SHA1.slice(1) }, { sha256: 'g'.repeat(64) }, {}]) {
      await expectConnectorError(mde().quarantineFile(uniqueHost(), file, actionCtx()), 'permanent');
    }
    const err = await expectConnectorError(
      mde().quarantineFile(uniqueHost(), { sha256: SHA256 }, actionCtx()),
      'permanent',
    );
    expect(err.name).toBe('UnsupportedActionError');
    await expectConnectorError(
      mde().runAntivirusScan(uniqueHost(), { scanType: 'deep' as never }, actionCtx()),
      'permanent',
    );
    expect(calls()).toBe(before);
  });

  it.each(['Failed', 'TimeOut', 'Cancelled'] as const)(
    'maps an action that ends %s to a permanent error',
    async (outcome) => {
      const host = uniqueHost();
      ctl.lab.store.setNextActionOutcome(ctl.lab.store.findHost(host)!, outcome);
      const err = await expectConnectorError(
        mde().runAntivirusScan(host, { scanType: 'quick' }, actionCtx()),
        'permanent',
        ERROR_NAMES.permanent,
      );
      expect(err.message).toContain(`ended ${outcome}`);
      expect(ctl.lab.store.snapshot().hosts.find((h) => h.name === host)!.quarantinedFiles).toEqual([]);
    },
  );

  it('gives up transient at its deadline, and the retry resumes the same action', async () => {
    const host = uniqueHost();
    const ctx = actionCtx();
    const err = await expectConnectorError(
      mde({ actionWaitMs: 50 }).runAntivirusScan(host, { scanType: 'quick' }, ctx),
      'transient',
    );
    expect(err.message).toMatch(/still running/);
    const res = await mde().runAntivirusScan(host, { scanType: 'quick' }, ctx);
    expect(res.alreadyInState).toBe(false);
    expect(actionsOf(host, 'RunAntiVirusScan')).toHaveLength(1);
  });

  it('collects the investigation package: the lab zip, stable per host, fetched without the bearer token', async () => {
    const host = uniqueHost();
    const pkg = await mde().collectInvestigationPackage(host, actionCtx());
    expect(pkg.content.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    expect(pkg.content.equals(labInvestigationPackage(host))).toBe(true);
    expect(pkg.fileName).toBe(`investigation-package-${host}-${pkg.vendorRef}.zip`);
    expect(pkg.source).toBe(`defender:machineaction/${pkg.vendorRef}`);
    const again = await mde().collectInvestigationPackage(host, actionCtx());
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(again.vendorRef).not.toBe(pkg.vendorRef);
    expect(sha(again.content)).toBe(sha(pkg.content));
    expect(sha(labInvestigationPackage(uniqueHost()))).not.toBe(sha(pkg.content));
    // The lab refuses a download carrying an Authorization header; this one went through.
    const download = ctl.lab.store.calls({ vendor: 'defender', pathIncludes: '/userrequests/' });
    expect(download.map((c) => c.status)).toEqual([200, 200]);
    expect(ctl.lab.store.ledger({ target: host, effect: 'collect_package' })).toHaveLength(2);
  });

  it('refuses a package over the size bound', async () => {
    const err = await expectConnectorError(
      mde({ packageMaxBytes: 100 }).collectInvestigationPackage(uniqueHost(), actionCtx()),
      'permanent',
    );
    expect(err.message).toMatch(/exceeds 100 bytes/);
  });

  it('maps 429 on the action to RateLimitedError and refreshes an expired token once', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'defender', pathPattern: '/StopAndQuarantineFile$' },
      fault: '429',
      retryAfterSeconds: 9,
      times: 1,
    });
    const err = await expectConnectorError(
      mde().quarantineFile(uniqueHost(), { sha1: SHA1 }, actionCtx()),
      'rate_limited',
      ERROR_NAMES.rate_limited,
    );
    expect(err.details.retryAfterMs).toBe(9_000);
    const edr = mde();
    const host = uniqueHost();
    await edr.runAntivirusScan(host, { scanType: 'quick' }, actionCtx());
    const issued = ctl.lab.store.tokensIssued().defender;
    ctl.lab.store.addFault({
      match: { vendor: 'defender', pathPattern: '/collectInvestigationPackage$' },
      fault: 'auth_expired',
      times: 1,
    });
    await edr.collectInvestigationPackage(host, actionCtx());
    expect(ctl.lab.store.tokensIssued().defender).toBe(issued + 1);
    ctl.lab.store.addFault({ match: { vendor: 'defender' }, fault: 'auth_expired' });
    await expectConnectorError(
      edr.runAntivirusScan(host, { scanType: 'quick' }, actionCtx()),
      'auth',
      ERROR_NAMES.auth,
    );
  });
});

describe('Defender package download contract', () => {
  /** A Defender whose one collection succeeds at once and whose package URI is `packageUri(serverUrl)`. */
  async function withPackageUri(packageUri: (url: string) => string) {
    const server = await startContractServer((req, res) => {
      if (req.url.endsWith('/oauth2/v2.0/token'))
        return json(res, 200, { access_token: 'tok', expires_in: 3599 });
      if (req.url.startsWith('/api/machines?')) return json(res, 200, { value: [{ id: 'm1' }] });
      if (req.url.startsWith('/api/machineactions?')) return json(res, 200, { value: [] });
      if (req.url === '/api/machines/m1/collectInvestigationPackage')
        return json(res, 201, { id: 'a1', type: 'CollectInvestigationPackage', status: 'Pending' });
      if (req.url === '/api/machineactions/a1') return json(res, 200, { id: 'a1', status: 'Succeeded' });
      if (req.url === '/api/machineactions/a1/GetPackageUri')
        return json(res, 200, { value: `"${packageUri(server.url)}"` });
      if (req.url.startsWith('/blob/')) {
        res.writeHead(200, { 'content-type': 'application/zip' }).end(Buffer.from([0x50, 0x4b, 5, 6, 0xff]));
        return;
      }
      json(res, 404, {});
    });
    const edr = new DefenderEdr({
      baseUrl: server.url,
      tokenUrl: `${server.url}/{tenant}/oauth2/v2.0/token`,
      tenantId: 't',
      clientId: 'app',
      clientSecret: 'secret',
      allowList: [server.url],
      actionWait: { pollIntervalMs: 10 },
    });
    return { server, edr };
  }

  it('downloads from the API origin (quoted URI as in Microsoft example) with no Authorization header', async () => {
    const { server, edr } = await withPackageUri((u) => `${u}/blob/pkg.zip?sv=1&sig=abc`);
    try {
      const pkg = await edr.collectInvestigationPackage('ws-9', actionCtx('INC-9', 'forensics'));
      expect([...pkg.content]).toEqual([0x50, 0x4b, 5, 6, 0xff]);
      const collect = server.requests.find((r) => r.url.endsWith('/collectInvestigationPackage'))!;
      expect(JSON.parse(collect.body).Comment).toMatch(/^Quell incident INC-9: forensics \[quell:INC-9:act-/);
      const blob = server.requests.find((r) => r.url.startsWith('/blob/'))!;
      expect(blob.headers.authorization).toBeUndefined();
    } finally {
      await server.stop();
    }
  });

  it.each([
    ['plain http off loopback', 'http://userrequests-us.blob.core.windows.net/p.zip?sig=x', /must use https/],
    [
      'an https host that is not a package host',
      'https://evil.example.com/p.zip?sig=x',
      /not an allowed package host/,
    ],
  ])('refuses %s before fetching it', async (_what, uri, message) => {
    const { server, edr } = await withPackageUri(() => uri);
    try {
      const err = await expectConnectorError(
        edr.collectInvestigationPackage('ws-9', actionCtx()),
        'permanent',
      );
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('sig=x');
    } finally {
      await server.stop();
    }
  });
});
