import { createHash } from 'node:crypto';
import { CrowdStrikeEdr, ODS_SCAN_PATHS, labEdr } from '../../src/connectors/edr/crowdstrike';
import { LAB_CREDENTIALS, labInvestigationPackage } from '../../src/connectors/lab';
import type { EdrResponseActions } from '../../src/connectors/types';
import {
  ERROR_NAMES,
  actionCtx,
  expectConnectorError,
  labAllowList,
  startTestLab,
  uniqueHost,
  useLab,
} from './support';

// Scans take 300 ms in this lab: pending for 150, running for 150.
const ctl = useLab({ responseActionDelayMs: 300 });

const SHA1 = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3';
const uniqueSha256 = () => createHash('sha256').update(uniqueHost()).digest('hex');

function falcon(opts: { iocHostGroups?: string[] } = {}): EdrResponseActions {
  const { lab } = ctl;
  return new CrowdStrikeEdr({
    baseUrl: `${lab.url}/crowdstrike`,
    ...LAB_CREDENTIALS.crowdstrike,
    allowList: labAllowList(lab),
    timeoutMs: 2_000,
    actionWait: { pollIntervalMs: 20 },
    ...opts,
  }).responseActions;
}

const calls = () => ctl.lab.store.calls({ vendor: 'crowdstrike' }).length;

describe('Falcon quarantine by custom IOC against the lab', () => {
  it('creates one prevent indicator for the SHA-256, and a repeat is already in state', async () => {
    const host = uniqueHost();
    const sha256 = uniqueSha256();
    const ctx = actionCtx(undefined, 'dropper');
    const res = await falcon().quarantineFile(host, { sha256: sha256.toUpperCase(), sha1: SHA1 }, ctx);
    expect(res.alreadyInState).toBe(false);
    expect(res.vendorRef).toMatch(/^[0-9a-f]{64}$/);
    const ioc = ctl.lab.store.findFalconIndicator('sha256', sha256)!;
    expect(ioc).toMatchObject({
      id: res.vendorRef,
      action: 'prevent',
      severity: 'high',
      applied_globally: true,
      host_groups: [],
      platforms: ['windows', 'mac', 'linux'],
      source: 'Quell',
    });
    expect(ioc.description).toContain(`Quell incident ${ctx.incidentId}: dropper (host ${host})`);
    const [entry, ...rest] = ctl.lab.store.ledger({ target: `sha256:${sha256}` });
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({
      vendor: 'crowdstrike',
      effect: 'quarantine_file',
      incidentId: ctx.incidentId,
      comment: `Quell incident ${ctx.incidentId}: dropper`,
    });
    expect(await falcon().quarantineFile(host, { sha256 }, actionCtx())).toEqual({
      alreadyInState: true,
      vendorRef: res.vendorRef,
    });
    expect(ctl.lab.store.falconIndicators().filter((i) => i.value === sha256)).toHaveLength(1);
  });

  it('scopes the indicator to host groups when configured', async () => {
    const sha256 = uniqueSha256();
    await falcon({ iocHostGroups: ['a'.repeat(32)] }).quarantineFile(uniqueHost(), { sha256 }, actionCtx());
    expect(ctl.lab.store.findFalconIndicator('sha256', sha256)).toMatchObject({
      applied_globally: false,
      host_groups: ['a'.repeat(32)],
    });
  });

  it('releases (deletes) its indicator; releasing again is already in state', async () => {
    const host = uniqueHost();
    const sha256 = uniqueSha256();
    const { vendorRef } = await falcon().quarantineFile(host, { sha256 }, actionCtx());
    const ctx = actionCtx();
    expect(await falcon().releaseQuarantinedFile!(host, { sha256 }, ctx)).toEqual({
      alreadyInState: false,
      vendorRef,
    });
    expect(ctl.lab.store.findFalconIndicator('sha256', sha256)).toBeUndefined();
    expect(ctl.lab.store.ledger({ target: `sha256:${sha256}` }).map((e) => e.effect)).toEqual([
      'quarantine_file',
      'release_file',
    ]);
    expect(ctl.lab.store.ledger({ effect: 'release_file', incidentId: ctx.incidentId })).toHaveLength(1);
    expect((await falcon().releaseQuarantinedFile!(host, { sha256 }, actionCtx())).alreadyInState).toBe(true);
  });

  it('leaves indicators it did not create alone: another action conflicts, release refuses', async () => {
    const sha256 = uniqueSha256();
    ctl.lab.store.addFalconIndicator(
      {
        type: 'sha256',
        value: sha256,
        action: 'detect',
        severity: 'low',
        platforms: ['windows'],
        applied_globally: true,
        host_groups: [],
        source: 'intel-feed',
      },
      { call: 'test' },
    );
    await expectConnectorError(
      falcon().quarantineFile(uniqueHost(), { sha256 }, actionCtx()),
      'conflict',
      ERROR_NAMES.conflict,
    );
    await expectConnectorError(
      falcon().releaseQuarantinedFile!(uniqueHost(), { sha256 }, actionCtx()),
      'conflict',
    );
    expect(ctl.lab.store.findFalconIndicator('sha256', sha256)).toBeDefined();
  });

  it('refuses bad hashes, and a SHA-1 alone, before any call', async () => {
    const before = calls();
    for (const file of [{ sha256: 'abc' }, { sha256: `${uniqueSha256()}0` }, { sha1: 'z'.repeat(40) }, {}]) {
      await expectConnectorError(falcon().quarantineFile(uniqueHost(), file, actionCtx()), 'permanent');
    }
    const err = await expectConnectorError(
      falcon().quarantineFile(uniqueHost(), { sha1: SHA1 }, actionCtx()),
      'permanent',
    );
    expect(err.name).toBe('UnsupportedActionError');
    expect(calls()).toBe(before);
  });

  it('maps 429 on the indicator call to RateLimitedError, and refreshes an expired token once', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: '^/crowdstrike/iocs/entities', method: 'POST' },
      fault: '429',
      retryAfterSeconds: 4,
      times: 1,
    });
    const err = await expectConnectorError(
      falcon().quarantineFile(uniqueHost(), { sha256: uniqueSha256() }, actionCtx()),
      'rate_limited',
      ERROR_NAMES.rate_limited,
    );
    expect(err.details.retryAfterMs).toBe(4_000);
    const edr = falcon();
    await edr.quarantineFile(uniqueHost(), { sha256: uniqueSha256() }, actionCtx());
    const issued = ctl.lab.store.tokensIssued().crowdstrike;
    ctl.lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: '^/crowdstrike/iocs/entities' },
      fault: 'auth_expired',
      times: 1,
    });
    expect(
      (await edr.quarantineFile(uniqueHost(), { sha256: uniqueSha256() }, actionCtx())).alreadyInState,
    ).toBe(false);
    expect(ctl.lab.store.tokensIssued().crowdstrike).toBe(issued + 1);
  });
});

describe('Falcon on-demand scans against the lab', () => {
  it('scans the host and waits for completed', async () => {
    const host = uniqueHost();
    const ctx = actionCtx();
    const res = await falcon().runAntivirusScan(host, { scanType: 'quick' }, ctx);
    expect(res.alreadyInState).toBe(false);
    const scan = ctl.lab.store.scan(res.vendorRef!)!;
    expect(scan).toMatchObject({
      status: 'completed',
      hosts: [ctl.lab.store.findHost(host)!.deviceId],
      file_paths: ODS_SCAN_PATHS.quick,
      quarantine: true,
    });
    expect(scan.description).toContain(`Quell incident ${ctx.incidentId}`);
    expect(ctl.lab.store.ledger({ target: host })).toEqual([
      expect.objectContaining({ effect: 'scan', vendorRef: res.vendorRef, incidentId: ctx.incidentId }),
    ]);
  });

  it('a retry (same key) finds its scan; another caller joins the running one', async () => {
    const host = uniqueHost();
    const ctx = actionCtx();
    const running = falcon().runAntivirusScan(host, { scanType: 'full' }, ctx);
    await new Promise((r) => setTimeout(r, 100));
    const joined = await falcon().runAntivirusScan(host, { scanType: 'quick' }, actionCtx());
    const first = await running;
    expect(joined).toEqual({ alreadyInState: true, vendorRef: first.vendorRef });
    expect(await falcon().runAntivirusScan(host, { scanType: 'full' }, ctx)).toEqual(first);
    const device = ctl.lab.store.findHost(host)!.deviceId;
    expect(ctl.lab.store.scans().filter((s) => s.hosts.includes(device))).toHaveLength(1);
  });

  it('maps a failed or cancelled scan to a permanent error', async () => {
    for (const [outcome, status] of [
      ['Failed', 'failed'],
      ['Cancelled', 'cancelled'],
    ] as const) {
      const host = uniqueHost();
      ctl.lab.store.setNextActionOutcome(ctl.lab.store.findHost(host)!, outcome);
      const err = await expectConnectorError(
        falcon().runAntivirusScan(host, { scanType: 'quick' }, actionCtx()),
        'permanent',
        ERROR_NAMES.permanent,
      );
      expect(err.message).toContain(`ended ${status}`);
    }
  });

  it('maps 429 on the scan call to RateLimitedError', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: '^/crowdstrike/ods/entities/scans', method: 'POST' },
      fault: '429',
      retryAfterSeconds: 3,
      times: 1,
    });
    const err = await expectConnectorError(
      falcon().runAntivirusScan(uniqueHost(), { scanType: 'quick' }, actionCtx()),
      'rate_limited',
    );
    expect(err.details.retryAfterMs).toBe(3_000);
  });
});

describe('investigation packages through Falcon', () => {
  it('are unsupported by the Falcon connector alone', async () => {
    const err = await expectConnectorError(
      falcon().collectInvestigationPackage(uniqueHost(), actionCtx()),
      'permanent',
    );
    expect(err.name).toBe('UnsupportedActionError');
  });

  it('come from the lab Defender contract in the lab default (labEdr)', async () => {
    const lab = await startTestLab();
    try {
      const edr = labEdr.build(
        { baseUrl: `${lab.url}/crowdstrike` },
        { allowList: labAllowList(lab), timeoutMs: 2_000 },
      );
      const host = uniqueHost();
      const actions = edr.responseActions;
      const pkg = await actions.collectInvestigationPackage(host, actionCtx());
      expect(pkg.content.equals(labInvestigationPackage(host))).toBe(true);
      expect(pkg.source).toMatch(/^defender:machineaction\//);
      // The rest goes through the Falcon contract.
      expect((await actions.runAntivirusScan(host, { scanType: 'quick' }, actionCtx())).vendorRef).toMatch(
        /^[0-9a-f]{32}$/,
      );
      expect(
        (await actions.quarantineFile(host, { sha256: uniqueSha256() }, actionCtx())).alreadyInState,
      ).toBe(false);
    } finally {
      await lab.stop();
    }
  });
});
