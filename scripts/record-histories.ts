/**
 * Records the workflow histories CI replays (test/histories/*.json).
 *
 *   npx tsx scripts/record-histories.ts [--only <scenario>[,<scenario>...]] [--out <dir>]
 *
 * Starts its own Temporal dev server (in memory, random port) and a worker with the in-memory estate
 * (test/support/memory-estate.ts), runs every scenario the workflow tests cover against the current workflow
 * code, and writes each run of each incident as `<scenario>[-run<N>].json` in the shape
 * `temporal workflow show --output json` writes, plus README.md listing them. Re-run it after a workflow
 * change that is meant to change histories (and commit the new files with the change).
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, projectRoot } from '../src/config';
import { decideApprovalSignal } from '../src/contracts';
import type { IncidentState } from '../src/domain/incident';
import { TemporalUnavailableError } from '../src/incidents/errors';
import { exportIncidentHistory } from '../src/audit/history';
import { formatHistoryJson } from '../src/audit/history-json';
import { provisionTemporal } from '../src/temporal/provision';
import { bundleWorkflows } from '../src/worker';
import { TEST_ENV } from '../test/support/env';
import {
  actionOf,
  actors,
  approvalFor,
  startHarness,
  testPlaybookYaml,
  type Harness,
} from '../test/support/incident-harness';
import { MemoryEstate } from '../test/support/memory-estate';
import { pool } from '../test/support/pool';

interface Scenario {
  name: string;
  description: string;
  playbookYaml?: string;
  /** Runs the incident to its end; returns its incident ID. */
  run(h: Harness, estate: MemoryEstate): Promise<string>;
}

/** Histories larger than this when indented are written without indentation (same JSON, ~25% smaller). */
const COMPACT_ABOVE_BYTES = 1024 * 1024;

const shortTimers = (onExpiry: 'reject' | 'approve') =>
  `approvals: { escalateAfter: 1s, expireAfter: 2500ms, onExpiry: ${onExpiry}, escalationRoutes: [oncall] }`;

const pendingCount = (s: IncidentState) => s.approvals.filter((a) => a.state === 'pending').length;

/** Closes an open incident as a false positive (undoing containment) and waits until it is closed. */
async function closeFalsePositive(
  h: Harness,
  id: string,
  comment = 'recorded scenario ends here',
): Promise<void> {
  await h.service.close(id, 'false_positive', comment, actors.alice);
  await h.until(id, (x) => x.status === 'closed', 'closed', 30_000);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'happy-path',
    description:
      'every phase: approved containment (isolate, disable), auto block, evidence, checklist, approved recovery, lessons learned, closed as resolved',
    async run(h) {
      const { incidentId: id } = await h.ingest({
        id: 'happy-1',
        rule: 'rec.happy',
        severity: 'high',
        hosts: ['ws-happy-1'],
        accounts: ['happy.user'],
        ips: ['203.0.113.7'],
      });
      let s = await h.until(id, (x) => pendingCount(x) === 2, 'two approvals');
      await h.until(id, (x) => actionOf(x, 'block_ip', '203.0.113.7').state === 'succeeded', 'auto block');
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'isolate_host', 'ws-happy-1').actionId).approvalId,
        'approve',
        'confirmed ransomware',
        actors.alice,
      );
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'disable_account', 'happy.user').actionId).approvalId,
        'approve',
        undefined,
        actors.bob,
      );
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await h.service.completeChecklistItem(id, 'reimage', 'reimaged from gold image', actors.rita);
      await h.service.completeChecklistItem(id, 'reset-credentials', undefined, actors.rita);
      s = await h.until(id, (x) => x.phase === 'recovery' && pendingCount(x) === 3, 'recovery approvals');
      for (const a of s.approvals.filter((x) => x.state === 'pending'))
        await h.service.decideApproval(id, a.approvalId, 'approve', undefined, actors.carol);
      await h.until(id, (x) => x.phase === 'lessons_learned', 'lessons learned');
      await h.service.addNote(
        id,
        'Patch the VPN appliance within 24 h of advisories.',
        'lessons_learned',
        actors.rita,
      );
      await h.service.close(id, 'resolved', 'done', actors.alice);
      await h.until(id, (x) => x.status === 'closed', 'closed');
      return id;
    },
  },
  {
    name: 'catalogue-actions',
    description:
      'catalogue actions beyond containment: an investigation package stored as evidence, an approved eradication scan that completes its checklist item, recovery',
    playbookYaml: testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
investigation:
  actions:
    collect_investigation_package: { approval: { critical: auto, high: auto, medium: auto, low: auto } }
eradication:
  checklist:
    - { id: scan, text: Full scan of the host, action: run_antivirus_scan }
    - { id: reimage, text: Reimage the host }
  actions:
    run_antivirus_scan: { with: { scanType: full } }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }`),
    async run(h) {
      const { incidentId: id } = await h.ingest({
        id: 'catalogue-1',
        rule: 'rec.catalogue',
        severity: 'high',
        hosts: ['ws-catalogue-1'],
      });
      const s = await h.until(
        id,
        (x) =>
          actionOf(x, 'run_antivirus_scan', 'ws-catalogue-1', 'eradication').state === 'pending_approval',
        'scan awaits approval',
      );
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'run_antivirus_scan', 'ws-catalogue-1', 'eradication').actionId)
          .approvalId,
        'approve',
        'scan before reimaging',
        actors.alice,
      );
      await h.until(
        id,
        (x) => x.checklist.find((i) => i.itemId === 'scan')?.completedAt !== undefined,
        'scanned',
      );
      await h.service.completeChecklistItem(id, 'reimage', 'reimaged', actors.rita);
      await h.until(id, (x) => x.phase === 'lessons_learned', 'lessons learned');
      await h.service.close(id, 'resolved', 'done', actors.alice);
      await h.until(id, (x) => x.status === 'closed', 'closed');
      return id;
    },
  },
  {
    name: 'enrichment-tickets',
    description:
      'threat intelligence in identification (a known-bad IP raises severity to high before containment), and the incident mirrored to a ticket: opened, a comment per phase and decision, closed',
    playbookYaml: testPlaybookYaml(`enrichment: { timeout: 5s, kinds: [ip, domain] }
severity:
  rules:
    - { description: known-bad address, when: { enrichment: 'abuseipdb.confidence >= 90' }, atLeast: high }
tickets: { sync: true }`),
    async run(h) {
      const { incidentId: id } = await h.ingest({
        id: 'enrich-1',
        rule: 'rec.enrich',
        severity: 'medium',
        hosts: ['ws-enrich-1'],
        ips: ['203.0.113.66'],
      });
      const s = await h.until(
        id,
        (x) =>
          x.severity === 'high' && actionOf(x, 'isolate_host', 'ws-enrich-1').state === 'pending_approval',
        'raised to high, isolation awaits approval',
      );
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'isolate_host', 'ws-enrich-1').actionId).approvalId,
        'reject',
        'the address is a scanner, not a compromise',
        actors.alice,
      );
      await closeFalsePositive(h, id, 'scanner traffic');
      await h.until(id, (x) => x.ticket?.status === 'closed', 'ticket closed');
      return id;
    },
  },
  {
    name: 'file-hashes-eradication-wait',
    description:
      'an alert naming file hashes: identification looks them up, eradication quarantines them on the host behind approval, and recovery waits for that action once the checklist is complete',
    playbookYaml: testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
enrichment: { timeout: 5s, kinds: [file] }
eradication:
  checklist:
    - { id: reimage, text: Reimage the host }
  actions:
    quarantine_file: { approval: { critical: approve, high: approve, medium: approve, low: approve } }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }`),
    async run(h) {
      const host = 'ws-files-1';
      const { incidentId: id } = await h.ingest({
        id: 'files-1',
        rule: 'rec.files',
        severity: 'high',
        hosts: [host],
        accounts: [],
        files: [
          '3395856ce81f2b7382dee72602f798b642f14140',
          '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
        ],
      });
      // A later alert names another hash: it is looked up as it arrives.
      await h.ingest({
        id: 'files-2',
        rule: 'rec.files',
        severity: 'high',
        hosts: [host],
        accounts: [],
        files: ['d41d8cd98f00b204e9800998ecf8427e'],
      });
      await h.until(id, (x) => x.enrichment?.later?.length === 1, 'later alert enriched');
      const s = await h.until(
        id,
        (x) => x.actions.some((a) => a.kind === 'quarantine_file' && a.state === 'pending_approval'),
        'quarantine awaits approval',
      );
      await h.service.completeChecklistItem(id, 'reimage', 'reimaged', actors.rita);
      await h.until(id, (x) => x.waitingFor?.phase === 'eradication', 'recovery waits for the quarantine');
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'quarantine_file', host, 'eradication').actionId).approvalId,
        'approve',
        'quarantine before release',
        actors.alice,
      );
      await h.until(id, (x) => x.phase === 'lessons_learned', 'lessons learned');
      await h.service.close(id, 'resolved', 'done', actors.alice);
      await h.until(id, (x) => x.status === 'closed', 'closed');
      return id;
    },
  },
  {
    name: 'reject',
    description:
      'a rejected containment is not applied; the incident moves on, then closes as a false positive',
    async run(h) {
      const { incidentId: id } = await h.ingest({
        id: 'reject-1',
        rule: 'rec.reject',
        severity: 'high',
        hosts: ['ws-reject-1'],
        accounts: [],
      });
      const s = await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'isolate_host', 'ws-reject-1').actionId).approvalId,
        'reject',
        'false alarm on a kiosk',
        actors.alice,
      );
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  ...(['reject', 'approve'] as const).map((onExpiry): Scenario => ({
    name: `expiry-${onExpiry}`,
    description: `approval escalated after 1 s, expired after 2.5 s with onExpiry=${onExpiry}`,
    playbookYaml: testPlaybookYaml(shortTimers(onExpiry)),
    async run(h) {
      const host = `ws-exp-${onExpiry}`;
      const { incidentId: id } = await h.ingest({
        id: `exp-${onExpiry}`,
        rule: `rec.exp.${onExpiry}`,
        severity: 'high',
        hosts: [host],
        accounts: [],
      });
      await h.until(id, (x) => x.approvals[0]?.state === 'expired', 'expiry', 15_000);
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  })),
  {
    name: 'two-person',
    description:
      'two-person rule: non-approver, requester and duplicate approver refused (updates), two approvers pass',
    async run(h) {
      const { incidentId: id } = await h.ingest(
        { id: '2p-1', rule: 'rec.2p', severity: 'medium', hosts: ['ws-2p-1'], accounts: [] },
        'alice',
      );
      const s = await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      const approvalId = approvalFor(s, actionOf(s, 'isolate_host', 'ws-2p-1').actionId).approvalId;
      for (const actor of [actors.rita, actors.alice])
        await h.service.decideApproval(id, approvalId, 'approve', undefined, actor).catch(() => undefined);
      await h.service.decideApproval(id, approvalId, 'approve', 'looks right', actors.bob);
      await h.service.decideApproval(id, approvalId, 'approve', undefined, actors.bob).catch(() => undefined);
      await h.service.decideApproval(id, approvalId, 'approve', undefined, actors.carol);
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'signal-decisions',
    description:
      'decisions sent as signals: a non-approver and an unknown approval refused, then an approval applied',
    async run(h) {
      const { incidentId: id, workflowId } = await h.ingest({
        id: 'sig-1',
        rule: 'rec.sig',
        severity: 'high',
        hosts: ['ws-sig-1'],
        accounts: [],
      });
      const s = await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      const approvalId = approvalFor(s, actionOf(s, 'isolate_host', 'ws-sig-1').actionId).approvalId;
      const handle = h.client.workflow.getHandle(workflowId);
      await handle.signal(decideApprovalSignal, { approvalId, decision: 'approve', actor: actors.siem });
      await handle.signal(decideApprovalSignal, {
        approvalId: 'apr-404',
        decision: 'approve',
        actor: actors.bob,
      });
      await handle.signal(decideApprovalSignal, {
        approvalId,
        decision: 'approve',
        comment: 'via chat-ops',
        actor: actors.bob,
      });
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'transient-retries',
    description: 'isolation fails twice with a transient vendor error, then succeeds within the retry policy',
    async run(h, estate) {
      estate.fail('isolateHost', 'ws-flaky-1', 'transient', 2);
      const { incidentId: id } = await h.ingest({
        id: 'flaky-1',
        rule: 'rec.flaky',
        severity: 'critical',
        hosts: ['ws-flaky-1'],
        accounts: [],
      });
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'permanent-failure',
    description:
      'permanent failures wait for a responder: retry (succeeds) for the isolation, skip for the IP block',
    async run(h, estate) {
      estate.fail('isolateHost', 'ws-perm-1', 'permanent', 1);
      estate.fail('blockIp', '198.51.100.9', 'permanent', 5);
      const { incidentId: id } = await h.ingest({
        id: 'perm-1',
        rule: 'rec.perm',
        severity: 'critical',
        hosts: ['ws-perm-1'],
        accounts: [],
        ips: ['198.51.100.9'],
      });
      const s = await h.until(
        id,
        (x) =>
          actionOf(x, 'isolate_host', 'ws-perm-1').state === 'failed' &&
          actionOf(x, 'block_ip', '198.51.100.9').state === 'failed',
        'both failed',
      );
      await h.service.resolveFailedAction(
        id,
        actionOf(s, 'isolate_host', 'ws-perm-1').actionId,
        'retry',
        'vendor fixed the API key',
        actors.rita,
      );
      await h.until(id, (x) => actionOf(x, 'isolate_host', 'ws-perm-1').state === 'succeeded', 'retried');
      await h.service.resolveFailedAction(
        id,
        actionOf(s, 'block_ip', '198.51.100.9').actionId,
        'skip',
        'blocked at the ISP instead',
        actors.rita,
      );
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'false-positive-compensation',
    description:
      'closing as a false positive undoes isolation, account disable and IP block in reverse order',
    async run(h) {
      const { incidentId: id } = await h.ingest({
        id: 'fp-1',
        rule: 'rec.fp',
        severity: 'critical',
        hosts: ['ws-fp-1'],
        accounts: ['fp.user'],
        ips: ['192.0.2.44'],
      });
      let s = await h.until(id, (x) => pendingCount(x) === 1, 'approval for disable');
      s = await h.until(
        id,
        (x) =>
          ['isolate_host', 'block_ip'].every(
            (k) => x.actions.find((a) => a.kind === k)?.state === 'succeeded',
          ),
        'auto containment',
      );
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'disable_account', 'fp.user').actionId).approvalId,
        'approve',
        undefined,
        actors.alice,
      );
      await h.until(id, (x) => actionOf(x, 'disable_account', 'fp.user').state === 'succeeded', 'disable');
      await closeFalsePositive(h, id, 'benign admin script');
      return id;
    },
  },
  {
    name: 'burst-dedup',
    description:
      '50 identical alerts sent concurrently: one incident, the alert recorded once, 49 deduplicated',
    async run(h) {
      const alert = {
        id: 'burst-1',
        rule: 'rec.burst',
        hosts: ['ws-burst-1'],
        accounts: [],
        severity: 'high' as const,
      };
      const receipts = await Promise.all(Array.from({ length: 50 }, () => h.ingest(alert)));
      const id = receipts[0]!.incidentId;
      await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'severity-escalation',
    description:
      'a correlated critical alert raises severity, widens scope to a second host and makes isolation automatic',
    async run(h) {
      const base = { rule: 'rec.esc', hosts: ['ws-esc-1'], accounts: [] };
      const first = await h.ingest({ ...base, id: 'esc-a1', severity: 'medium' });
      const id = first.incidentId;
      await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      await h.ingest({ ...base, id: 'esc-a2', severity: 'critical', hosts: ['ws-esc-1', 'ws-esc-2'] });
      await h.until(
        id,
        (x) =>
          actionOf(x, 'isolate_host', 'ws-esc-1').state === 'succeeded' &&
          actionOf(x, 'isolate_host', 'ws-esc-2').state === 'succeeded',
        'both isolated',
      );
      await h.ingest({ ...base, id: 'esc-a1', severity: 'low' }); // redelivery: deduplicated, never lowers severity
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'reopen',
    description:
      'all automatic: recovered to lessons learned, then a correlated alert with a new host reopens containment; internal IPs are never blocked',
    playbookYaml: testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }
  block_ip:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }
eradication: { checklist: [] }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }
  retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }`),
    async run(h) {
      const base = { rule: 'rec.reopen', severity: 'high' as const, accounts: [] };
      const { incidentId: id } = await h.ingest({
        ...base,
        id: 'reopen-1',
        hosts: ['ws-reopen-a'],
        ips: ['10.1.2.3', '198.51.100.77'],
      });
      await h.until(id, (x) => x.phase === 'lessons_learned', 'lessons learned');
      await h.ingest({ ...base, id: 'reopen-2', hosts: ['ws-reopen-a', 'ws-reopen-b'] });
      await h.until(id, (x) => x.reopened === 1 && x.phase === 'lessons_learned', 'reopened and recovered');
      await h.service.close(id, 'resolved', undefined, actors.alice);
      await h.until(id, (x) => x.status === 'closed', 'closed');
      return id;
    },
  },
  {
    name: 'refused-decisions',
    description:
      'refused decisions recorded: self-approval, non-approver, admin without approver, second decision, unknown approval, refused closes; then two approvers pass',
    async run(h) {
      const { incidentId: id } = await h.ingest(
        { id: 'refused-1', rule: 'rec.refused', severity: 'medium', hosts: ['ws-refused-1'], accounts: [] },
        'alice',
      );
      const s = await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      const approvalId = approvalFor(s, actionOf(s, 'isolate_host', 'ws-refused-1').actionId).approvalId;
      const admin = { subject: 'root-admin', roles: ['admin' as const] };
      const refused = (p: Promise<unknown>) =>
        p.then(
          () => Promise.reject(new Error('not refused')),
          () => undefined,
        );
      for (const actor of [actors.alice, actors.rita, admin])
        await refused(h.service.decideApproval(id, approvalId, 'approve', undefined, actor));
      await h.service.decideApproval(id, approvalId, 'approve', 'looks right', actors.bob);
      await refused(h.service.decideApproval(id, approvalId, 'approve', undefined, actors.bob));
      await refused(h.service.decideApproval(id, 'apr-404', 'reject', undefined, actors.bob));
      await refused(h.service.close(id, 'false_positive', undefined, admin));
      await refused(h.service.close(id, 'resolved', undefined, actors.carol));
      await h.service.decideApproval(id, approvalId, 'approve', undefined, actors.carol);
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await closeFalsePositive(h, id);
      return id;
    },
  },
  {
    name: 'late-host-recovery-wait',
    description:
      'a correlated alert adds a host during eradication: its logs are snapshotted at once; recovery waits (memo) for its containment approval, which is rejected; only the first host is released',
    async run(h) {
      const base = { rule: 'rec.late', severity: 'high' as const, accounts: [] };
      const { incidentId: id } = await h.ingest({ ...base, id: 'late-1', hosts: ['ws-late-a'] });
      let s = await h.until(id, (x) => pendingCount(x) === 1, 'approval');
      await h.service.decideApproval(
        id,
        approvalFor(s, actionOf(s, 'isolate_host', 'ws-late-a').actionId).approvalId,
        'approve',
        undefined,
        actors.bob,
      );
      await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      await h.ingest({ ...base, id: 'late-2', hosts: ['ws-late-a', 'ws-late-b'] });
      s = await h.until(
        id,
        (x) => x.evidence.length === 2 && pendingCount(x) === 1,
        'late evidence and approval',
      );
      const late = actionOf(s, 'isolate_host', 'ws-late-b');
      await h.service.completeChecklistItem(id, 'reimage', undefined, actors.rita);
      await h.service.completeChecklistItem(id, 'reset-credentials', undefined, actors.rita);
      await h.until(id, (x) => x.waitingFor !== undefined, 'recovery waiting');
      await h.service.decideApproval(id, late.approvalId!, 'reject', 'already gone', actors.bob);
      s = await h.until(id, (x) => pendingCount(x) === 1 && x.waitingFor === undefined, 'recovery approval');
      await h.service.decideApproval(
        id,
        s.approvals.find((a) => a.state === 'pending')!.approvalId,
        'approve',
        undefined,
        actors.carol,
      );
      await h.until(id, (x) => x.phase === 'lessons_learned', 'lessons learned');
      await h.service.close(id, 'resolved', undefined, actors.alice);
      await h.until(id, (x) => x.status === 'closed', 'closed');
      return id;
    },
  },
  {
    name: 'continue-as-new',
    description:
      '1,100 correlated alerts: the workflow continues as new after 1,000 messages; dedup holds across runs',
    async run(h) {
      const base = { rule: 'rec.storm', hosts: ['ws-storm-1'], accounts: [], severity: 'low' as const };
      const n = 1_100;
      let id = '';
      await pool(
        Array.from({ length: n }, (_, i) => i),
        16,
        async (i) => {
          // Like a real sender: a 503 (an update aborted while the run continues as new) is retried.
          for (let attempt = 1; ; attempt++) {
            try {
              id = (await h.ingest({ ...base, id: `storm-${i}` })).incidentId;
              break;
            } catch (err) {
              if (!(err instanceof TemporalUnavailableError) || attempt >= 6) throw err;
              await new Promise((r) => setTimeout(r, 250 * attempt));
            }
          }
        },
      );
      await h.ingest({ ...base, id: 'storm-7' }); // redelivered after the continue-as-new
      const s = await h.state(id);
      if (s.runs < 1) throw new Error(`expected a continue-as-new after ${n} alerts; runs=${s.runs}`);
      await closeFalsePositive(h, id);
      return id;
    },
  },
];

function parseArgs(argv: string[]): { only?: string[]; out: string } {
  const out = { out: path.join(projectRoot(), 'test', 'histories') } as { only?: string[]; out: string };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') out.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (argv[i] === '--out') out.out = path.resolve(argv[++i] ?? '.');
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const scenarios = SCENARIOS.filter((s) => !args.only || args.only.includes(s.name));
  if (!scenarios.length)
    throw new Error(
      `no scenario matches ${args.only?.join(',')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  const report = (m: string) => process.stderr.write(`[record] ${m}\n`);
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-record-'));
  const { TEMPORAL_ADDRESS: _external, ...env } = process.env;
  const config = loadConfig({ ...env, QUELL_DATA_DIR: runDir });
  const temporal = await provisionTemporal(config, {
    report,
    embeddedOverrides: {
      port: 0,
      headless: true,
      dbFile: null,
      logFile: path.join(runDir, 'temporal-server.log'),
      extraArgs: ['--sqlite-pragma', 'synchronous=OFF'],
    },
  });
  const written: {
    file: string;
    scenario: string;
    run: number;
    runs: number;
    events: number;
    bytes: number;
  }[] = [];
  try {
    const bundlePath = path.join(runDir, 'workflow-bundle.js');
    await fs.writeFile(bundlePath, (await bundleWorkflows()).code);
    process.env[TEST_ENV.address] = temporal.address;
    process.env[TEST_ENV.namespace] = temporal.namespace;
    process.env[TEST_ENV.bundle] = bundlePath;
    report(`Temporal dev server on ${temporal.address}`);

    const results: { scenario: Scenario; incidentId: string; harness: Harness }[] = [];
    const harnesses: Harness[] = [];
    try {
      for (const scenario of scenarios) {
        const estate = new MemoryEstate();
        const h = await startHarness({
          connectors: estate.connectors(),
          ...(scenario.playbookYaml ? { playbookYaml: scenario.playbookYaml } : {}),
          taskQueue: `record-${scenario.name}-${randomUUID().slice(0, 8)}`,
        });
        harnesses.push(h);
        const started = Date.now();
        const incidentId = await scenario.run(h, estate);
        report(`${scenario.name}: ${incidentId} in ${Date.now() - started} ms`);
        results.push({ scenario, incidentId, harness: h });
      }
      await fs.mkdir(args.out, { recursive: true });
      if (!args.only) {
        for (const f of await fs.readdir(args.out))
          if (f.endsWith('.json')) await fs.rm(path.join(args.out, f));
      }
      for (const { scenario, incidentId, harness } of results) {
        const exported = await exportIncidentHistory(harness.client, incidentId);
        for (const [i, run] of exported.runs.entries()) {
          if (run.status === 'RUNNING') throw new Error(`${scenario.name} run ${i + 1} is still running`);
          const name =
            exported.runs.length > 1 ? `${scenario.name}-run${i + 1}.json` : `${scenario.name}.json`;
          // Readable (indented, like the CLI) unless that makes the file big: large runs are written compact.
          const pretty = formatHistoryJson(run.history);
          const text = pretty.length > COMPACT_ABOVE_BYTES ? JSON.stringify(run.history) + '\n' : pretty;
          await fs.writeFile(path.join(args.out, name), text);
          written.push({
            file: name,
            scenario: scenario.name,
            run: i + 1,
            runs: exported.runs.length,
            events: run.history.events.length,
            bytes: Buffer.byteLength(text),
          });
          report(
            `wrote ${name} (${run.history.events.length} events, ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB)`,
          );
        }
      }
    } finally {
      for (const h of harnesses) await h.stop().catch(() => undefined);
    }
    if (!args.only) await fs.writeFile(path.join(args.out, 'README.md'), readme(written, scenarios));
  } finally {
    await temporal.stop();
    await fs.rm(runDir, { recursive: true, force: true });
  }
}

function readme(
  files: { file: string; scenario: string; run: number; runs: number; events: number; bytes: number }[],
  scenarios: Scenario[],
): string {
  const rows = files.map((f) => {
    const s = scenarios.find((x) => x.name === f.scenario)!;
    return `| \`${f.file}\` | ${f.runs > 1 ? `run ${f.run} of ${f.runs}: ` : ''}${s.description} | ${f.events} | ${(f.bytes / 1024).toFixed(0)} KiB |`;
  });
  return `# Recorded workflow histories

Real histories of the incident workflow, one file per workflow run, in the JSON shape
\`temporal workflow show --output json\` writes (\`{"events": [...]}\`). They were recorded by running every scenario
of the workflow tests against a Temporal dev server with the in-memory estate (test/support/memory-estate.ts).
An incident that continued as new has one file per run (\`<scenario>-run<N>.json\`).

\`test/audit/replay.test.ts\` replays every file here against the CURRENT workflow code and fails on any
nondeterminism: a workflow change that would break incidents already running in production (their histories
look like these) fails CI. Check them by hand with:

    npx jest test/audit/replay.test.ts
    node bin/quell.js replay test/histories     # once \`quell replay\` is registered in src/cli/main.ts

## When a replay fails

- The change was not meant to alter the commands the workflow issues: fix the change.
- It was: guard it with \`patched('<change-id>')\` / \`deprecatePatch\` so running incidents keep the old path,
  then re-record (below) so the new path is covered too. Keep the old files until no incident recorded with the
  old code can still be running.

## Re-recording

    npx tsx scripts/record-histories.ts                      # all scenarios (about a minute)
    npx tsx scripts/record-histories.ts --only reject,two-person

The script starts its own dev server (it never uses TEMPORAL_ADDRESS), rewrites the files and this README.
Histories contain the test machine's worker identity and stack-trace paths; they hold no secrets. Files over
1 MiB when indented are written without indentation (the same JSON). Before re-recording after a change behind
\`patched()\`, move the current files into a new \`legacy/<date>/\` folder: they prove the patch.

## Files

| File | Scenario | Events | Size |
|---|---|---|---|
${rows.join('\n')}

## \`legacy/\`

Histories recorded with earlier workflow code, one folder per generation, before changes that are now behind
\`patched()\`. They are never regenerated: the test suite replays them against the current code to prove each
patch keeps incidents that were already running replaying.

- \`legacy/2026-11-28/\`: before \`skip-internal-ips\`, \`incident-id-run-tail\` and \`reopen-new-entities-only\`.
- \`legacy/2026-12-01/\`: before \`late-entity-evidence\` and \`recovery-wait-visible\`, and before refused
  decisions were recorded (these histories hold no refused updates: the validator dropped them).
`;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[record] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
