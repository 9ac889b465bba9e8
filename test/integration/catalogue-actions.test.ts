/**
 * Catalogue actions beyond the original four, on the real dev server: the EDR's investigation and eradication
 * actions through the lab estate (its Falcon and Defender contracts), and an action added in one file (a test
 * fixture, not Quell's) taken through approval, retries and false-positive compensation.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_CATALOGUE } from '../../src/actions/catalogue';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import type { Connectors } from '../../src/connectors/types';
import sinkholeDomain from '../fixtures/actions/sinkhole-domain';
import { parsePlaybook } from '../../src/playbooks/loader';
import { labConnectors } from '../reliability/drill-support';
import {
  actionOf,
  actors,
  approvalFor,
  startHarness,
  testPlaybookYaml,
  type Harness,
} from '../support/incident-harness';

const fast =
  '{ initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 5, totalTimeout: 30s, attemptTimeout: 10s }';

describe('EDR response actions from the catalogue, on the lab estate', () => {
  let lab: RunningLab;
  let dataDir: string;
  let connectors: Connectors;
  let h: Harness;
  const playbook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: ${fast}
investigation:
  actions:
    collect_investigation_package:
      approval: { critical: auto, high: auto, medium: auto, low: auto }
      retry: ${fast}
eradication:
  checklist:
    - { id: scan, text: Full antivirus scan of the host, action: run_antivirus_scan }
    - { id: reimage, text: Reimage the host }
  actions:
    run_antivirus_scan:
      approval: { critical: approve, high: approve, medium: approve, low: approve }
      with: { scanType: quick }
      retry: ${fast}
    quarantine_file:
      approval: { critical: auto, high: auto, medium: auto, low: auto }
      retry: ${fast}
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }
  retry: ${fast}`);

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-catalogue-'));
    lab = await startLabServer({ port: 0 });
    connectors = labConnectors(lab, dataDir);
    h = await startHarness({ connectors, playbookYaml: playbook });
  });
  afterAll(async () => {
    await h?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('collects the investigation package as evidence, scans behind approval, and the scan completes its checklist item', async () => {
    const host = `ws-cat-${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({ severity: 'critical', hosts: [host] });

    // Investigation: the package is evidence like the log snapshot, its bytes on disk hashing to the record.
    const investigated = await h.until(incidentId, (s) => s.phase === 'eradication', 'eradication');
    const collect = actionOf(investigated, 'collect_investigation_package', host, 'investigation');
    expect(collect).toMatchObject({
      state: 'succeeded',
      label: 'Collect an investigation package from host',
    });
    const pkg = investigated.evidence.find((e) => e.evidenceId === collect.result?.evidenceId)!;
    expect(pkg).toMatchObject({ name: `investigation-package:${host}`, subject: host });
    const bytes = await fs.readFile(fileURLToPath(pkg.location));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(pkg.sha256);
    expect(bytes.subarray(0, 2).toString('latin1')).toBe('PK'); // the lab's package is a zip
    expect(investigated.evidence.some((e) => e.name === `logs:${host}`)).toBe(true);

    // Eradication: the scan waits for an approver; the checklist item naming it is open until it succeeds.
    const scan = actionOf(investigated, 'run_antivirus_scan', host, 'eradication');
    expect(scan.state).toBe('pending_approval');
    const approval = approvalFor(investigated, scan.actionId);
    expect(approval.request.why).toMatch(/^Run an antivirus scan on host ws-cat-/);
    expect(approval.request.undo).toBe('nothing to undo: it changes no state');
    expect(investigated.checklist.find((i) => i.itemId === 'scan')).toMatchObject({
      action: 'run_antivirus_scan',
    });
    expect(investigated.checklist.find((i) => i.itemId === 'scan')?.completedAt).toBeUndefined();

    await h.service.decideApproval(incidentId, approval.approvalId, 'approve', 'scan it', actors.alice);
    const scanned = await h.until(
      incidentId,
      (s) => s.checklist.find((i) => i.itemId === 'scan')?.completedAt !== undefined,
      'the scan completes its item',
    );
    expect(actionOf(scanned, 'run_antivirus_scan', host, 'eradication').state).toBe('succeeded');
    expect(scanned.checklist.find((i) => i.itemId === 'scan')).toMatchObject({
      completedBy: 'quell:action:run_antivirus_scan',
    });
    expect(scanned.phase).toBe('eradication'); // the item people own is still open

    await h.service.completeChecklistItem(incidentId, 'reimage', 'done', actors.rita);
    const recovered = await h.until(incidentId, (s) => s.phase === 'lessons_learned', 'recovery');
    expect(actionOf(recovered, 'release_host', host).result?.verifiedState).toBe('normal');
  });

  it("quarantines the alerts' file hashes on each host in scope, passing over the kinds the vendor does not take", async () => {
    const host = `ws-qf-${randomUUID().slice(0, 8)}`;
    const sample = Buffer.from(`implant ${host}`);
    const digest = (algorithm: string) => createHash(algorithm).update(sample).digest('hex');
    const [md5, sha1, sha256] = [digest('md5'), digest('sha1'), digest('sha256')];
    const { incidentId } = await h.ingest({
      severity: 'critical',
      hosts: [host],
      files: [md5, sha1, sha256],
    });
    const s = await h.until(
      incidentId,
      (x) => x.actions.some((a) => a.kind === 'quarantine_file' && a.state === 'succeeded'),
      'quarantine_file succeeded',
    );
    const q = actionOf(s, 'quarantine_file', host, 'eradication');
    expect(q.files).toEqual([md5, sha1, sha256]);
    expect(q.result?.vendorRef).toBeTruthy();
    // One file, three hashes: the vendor acts on the kind it takes; the others are named in the outcome.
    const taken = connectors.edr.vendor === 'defender' ? sha1 : sha256;
    const other = taken === sha1 ? sha256 : sha1;
    expect(q.result?.detail).toContain(md5);
    expect(q.result?.detail).toContain(other);
    expect(q.result?.detail).not.toContain(taken);
    expect(
      lab.store.ledger({ effect: 'quarantine_file' }).filter((e) => JSON.stringify(e).includes(taken)),
    ).toHaveLength(1);
  });

  it('holds recovery while an eradication action no checklist item names is unsettled, saying so, until it is skipped', async () => {
    lab.store.addFault({
      match: { pathPattern: 'StopAndQuarantineFile|/iocs/entities/indicators', method: 'POST' },
      fault: '4xx',
      times: 20,
    });
    const host = `ws-erad-${randomUUID().slice(0, 8)}`;
    const sha256 = createHash('sha256').update(host).digest('hex');
    const sha1 = createHash('sha1').update(host).digest('hex');
    const { incidentId } = await h.ingest({ severity: 'critical', hosts: [host], files: [sha1, sha256] });
    const planned = await h.until(
      incidentId,
      (x) => x.actions.some((a) => a.kind === 'run_antivirus_scan' && a.state === 'pending_approval'),
      'scan awaits approval',
    );
    const scan = actionOf(planned, 'run_antivirus_scan', host, 'eradication');
    await h.service.decideApproval(
      incidentId,
      approvalFor(planned, scan.actionId).approvalId,
      'approve',
      'go',
      actors.alice,
    );
    await h.until(
      incidentId,
      (x) => x.checklist.find((i) => i.itemId === 'scan')?.completedAt !== undefined,
      'scan item',
    );
    await h.service.completeChecklistItem(incidentId, 'reimage', 'done', actors.rita);

    // The checklist is complete, but the quarantine failed for good: recovery does not release the host yet.
    const held = await h.until(incidentId, (x) => x.waitingFor !== undefined, 'waiting for eradication');
    const quarantine = actionOf(held, 'quarantine_file', host, 'eradication');
    expect(quarantine.state).toBe('failed');
    expect(held.phase).toBe('eradication');
    expect(held.waitingFor).toMatchObject({
      phase: 'eradication',
      failedActions: [{ actionId: quarantine.actionId, kind: 'quarantine_file', target: host }],
    });
    expect(held.waitingFor!.summary).toBe(
      `Recovery waits for eradication's actions to settle: ${quarantine.actionId} (quarantine_file ${host}) failed: retry or skip it.`,
    );
    expect(actionOf(held, 'isolate_host', host).state).toBe('succeeded');
    expect(held.actions.some((a) => a.kind === 'release_host')).toBe(false);

    await h.service.resolveFailedAction(
      incidentId,
      quarantine.actionId,
      'skip',
      'removed by hand',
      actors.rita,
    );
    const recovered = await h.until(incidentId, (x) => x.phase === 'lessons_learned', 'recovery');
    expect(recovered.waitingFor).toBeUndefined();
    expect(actionOf(recovered, 'release_host', host).state).toBe('succeeded');
  });

  it('plans no quarantine of alert hashes for an incident whose alerts name none', async () => {
    const host = `ws-nofile-${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({ severity: 'critical', hosts: [host] });
    const s = await h.until(incidentId, (x) => x.phase === 'eradication', 'eradication');
    expect(s.actions.filter((a) => a.kind === 'quarantine_file')).toEqual([]);
  });

  it('refuses a playbook naming an action the catalogue lacks, or one in a phase it does not serve, naming the field', () => {
    expect(() => parsePlaybook(testPlaybookYaml(`containment:\n  wipe_host: {}`), 'pb.yaml')).toThrow(
      /containment: unknown containment action "wipe_host" \(the catalogue's containment actions: isolate_host/,
    );
    expect(() =>
      parsePlaybook(testPlaybookYaml(`investigation:\n  actions:\n    run_antivirus_scan: {}`), 'pb.yaml'),
    ).toThrow(/investigation\.actions: unknown investigation action "run_antivirus_scan"/);
    expect(() =>
      parsePlaybook(
        testPlaybookYaml(`eradication:\n  checklist:\n    - { id: a, text: A, action: quarantine_file }`),
        'pb.yaml',
      ),
    ).toThrow(
      /eradication\.checklist\[0\]\.action: action "quarantine_file" is not one of eradication\.actions/,
    );
    expect(() =>
      parsePlaybook(
        testPlaybookYaml(`eradication:\n  actions:\n    quarantine_file: { with: { sha1: nothex } }`),
        'pb.yaml',
      ),
    ).toThrow(/eradication\.actions\.quarantine_file\.with\.sha1: a 40-digit hexadecimal hash/);
  });
});

/** A DNS sinkhole service: its first `failFirst` PUTs answer 503. */
async function startSinkhole(failFirst: number) {
  const sinkholed = new Map<string, { answer: string; ref: string }>();
  const calls: string[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const domain = decodeURIComponent((req.url ?? '').replace(/^\/sinkholes\//, ''));
      calls.push(`${req.method} ${domain}`);
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      };
      if (req.method === 'PUT') {
        if (failures < failFirst) {
          failures++;
          reply(503, { error: 'busy' });
          return;
        }
        const existed = sinkholed.has(domain);
        sinkholed.set(domain, JSON.parse(body) as { answer: string; ref: string });
        reply(existed ? 200 : 201, { existed });
      } else if (req.method === 'DELETE') reply(200, { existed: sinkholed.delete(domain) });
      else reply(200, { state: sinkholed.has(domain) ? 'sinkholed' : 'resolving' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sinkholed,
    calls,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('an action added in one file (test/fixtures/actions/sinkhole-domain.ts)', () => {
  let lab: RunningLab;
  let dataDir: string;
  let h: Harness;
  let sinkhole: Awaited<ReturnType<typeof startSinkhole>>;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-fixture-action-'));
    lab = await startLabServer({ port: 0 });
    sinkhole = await startSinkhole(2);
    process.env.QUELL_TEST_SINKHOLE_URL = sinkhole.url;
    h = await startHarness({
      connectors: labConnectors(lab, dataDir),
      catalogue: BUILTIN_CATALOGUE.with([sinkholeDomain]),
      playbookYaml: testPlaybookYaml(`containment:
  sinkhole_domain:
    approval: { critical: approve, high: approve, medium: approve, low: approve }
    with: { answer: 192.0.2.53 }
    retry: ${fast}`),
    });
  });
  afterAll(async () => {
    await h?.stop();
    await sinkhole?.stop();
    await lab?.stop();
    delete process.env.QUELL_TEST_SINKHOLE_URL;
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('waits for approval, retries the vendor through two 503s, and false-positive closure undoes it and verifies', async () => {
    const domain = `c2-${randomUUID().slice(0, 8)}.example`;
    const { incidentId } = await h.ingest({ severity: 'high', domains: [domain] }, actors.alice.subject);
    const planned = await h.until(
      incidentId,
      (s) => actionOf(s, 'sinkhole_domain', domain).state === 'pending_approval',
      'planned',
    );
    const action = actionOf(planned, 'sinkhole_domain', domain);
    const approval = approvalFor(planned, action.actionId);
    expect(approval.request).toMatchObject({
      action: 'sinkhole_domain',
      undo: 'remove the domain from the sinkhole',
    });
    expect(approval.request.why).toMatch(/^Sinkhole domain c2-/);
    // Whoever raised the alert may not approve what it asks for; another approver may.
    await expect(
      h.service.decideApproval(incidentId, approval.approvalId, 'approve', undefined, actors.alice),
    ).rejects.toMatchObject({ type: 'SelfApproval' });
    await h.service.decideApproval(incidentId, approval.approvalId, 'approve', undefined, actors.bob);

    const contained = await h.until(
      incidentId,
      (s) => actionOf(s, 'sinkhole_domain', domain).state === 'succeeded',
      'sinkholed',
    );
    expect(actionOf(contained, 'sinkhole_domain', domain)).toMatchObject({
      attempts: 3,
      label: 'Sinkhole domain',
    });
    expect(sinkhole.sinkholed.get(domain)).toMatchObject({
      answer: '192.0.2.53',
      ref: `${incidentId}:${action.actionId}`,
    });

    await h.service.close(incidentId, 'false_positive', 'benign test domain', actors.alice);
    const closed = await h.until(incidentId, (s) => s.status === 'closed', 'closed');
    const undo = actionOf(closed, 'release_sinkhole', domain, 'recovery');
    expect(undo).toMatchObject({ state: 'succeeded', saga: true, undoes: action.actionId });
    expect(undo.result?.verifiedState).toBe('resolving');
    expect(actionOf(closed, 'sinkhole_domain', domain).state).toBe('compensated');
    expect(sinkhole.sinkholed.has(domain)).toBe(false);
    expect(sinkhole.calls.filter((c) => c.startsWith('PUT'))).toHaveLength(3);
  });
});
