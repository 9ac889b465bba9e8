import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportIncidentHistory } from '../../src/audit/history';
import { buildTimeline } from '../../src/audit/timeline/build';
import { createConnectors } from '../../src/connectors';
import { PermanentConnectorError } from '../../src/connectors/errors';
import { LAB_CREDENTIALS, startLabServer, type RunningLab } from '../../src/connectors/lab';
import { jiraIncidentLabel } from '../../src/connectors/tickets/jira';
import { ServiceNowTickets, serviceNowCorrelationId } from '../../src/connectors/tickets/servicenow';
import { adfPlainText } from '../../src/connectors/tickets/text';
import type { Connectors } from '../../src/connectors/types';
import type { IncidentState } from '../../src/domain/incident';
import type { GenericAlert } from '../../src/ingest/generic';
import { pool } from '../support/pool';
import {
  actionOf,
  actors,
  approvalFor,
  startHarness,
  testPlaybookYaml,
  type Harness,
} from '../support/incident-harness';

/** Containment of the host waits for one approver; everything after it runs on its own. */
const playbook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: approve, high: approve, medium: approve, low: approve }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 4, totalTimeout: 30s, attemptTimeout: 5s }
eradication: { checklist: [] }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }
tickets: { sync: true }`);

/** Open -> one approved containment -> recovery -> closed as resolved; returns the closed state. */
async function respond(
  h: Harness,
  title: string,
  whileContaining?: (alert: Partial<GenericAlert>, incidentId: string) => Promise<void>,
): Promise<IncidentState> {
  const tag = randomUUID().slice(0, 8);
  const host = `ws-tk-${tag}`;
  const alert = { severity: 'high' as const, title, rule: `tk.${tag}`, hosts: [host], accounts: [] };
  const { incidentId } = await h.ingest(alert);
  const pending = await h.until(
    incidentId,
    (s) => s.approvals.some((a) => a.state === 'pending') && s.ticket !== undefined,
    'containment approval and the ticket',
  );
  await whileContaining?.(alert, incidentId);
  const approval = approvalFor(pending, actionOf(pending, 'isolate_host', host).actionId);
  await h.service.decideApproval(incidentId, approval.approvalId, 'approve', 'confirmed', actors.alice);
  await h.until(incidentId, (s) => s.phase === 'lessons_learned', 'lessons learned', 30_000);
  await h.service.close(incidentId, 'resolved', 'done', actors.alice);
  return h.until(
    incidentId,
    (s) =>
      s.status === 'closed' &&
      s.ticket !== undefined &&
      (s.ticket.status !== 'open' || s.ticket.synced.includes('close')),
    'closed with the ticket closed',
    30_000,
  );
}

const PHASE_COMMENTS = ['containment', 'investigation', 'eradication', 'recovery', 'lessons learned'];

describe('ticket sync (real Temporal, the lab Jira and ServiceNow)', () => {
  let lab: RunningLab;
  let dataDir: string;
  let jiraH: Harness;
  let snH: Harness;
  let noneH: Harness;
  let refusingH: Harness;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-tickets-'));
    lab = await startLabServer({ port: 0 });
    const env = { QUELL_HTTP_TIMEOUT_MS: '1000' };
    const jira = createConnectors({ ...env, QUELL_TICKETS: 'lab' }, { dataDir, labUrl: lab.url });
    expect(jira.tickets?.vendor).toBe('jira');
    jiraH = await startHarness({ connectors: jira, playbookYaml: playbook });
    const base = createConnectors(env, { dataDir, labUrl: lab.url });
    const servicenow: Connectors = {
      ...base,
      tickets: new ServiceNowTickets({
        instanceUrl: `${lab.url}/servicenow`,
        ...LAB_CREDENTIALS.servicenow,
        allowList: [`${lab.url}/`],
        timeoutMs: 1_000,
      }),
    };
    snH = await startHarness({ connectors: servicenow, playbookYaml: playbook });
    noneH = await startHarness({ connectors: base, playbookYaml: playbook });
    // The lab Jira, except that it refuses for good every comment on a decision.
    const labJira = jira.tickets!;
    const refusing: Connectors = {
      ...jira,
      tickets: {
        vendor: labJira.vendor,
        openTicket: (req, ctx) => labJira.openTicket(req, ctx),
        addComment: (key, text, ctx) =>
          text.startsWith('Approval ')
            ? Promise.reject(new PermanentConnectorError('comment refused by a field rule'))
            : labJira.addComment(key, text, ctx),
        closeTicket: (key, req, ctx) => labJira.closeTicket(key, req, ctx),
      },
    };
    refusingH = await startHarness({ connectors: refusing, playbookYaml: playbook });
  });
  afterAll(async () => {
    await jiraH?.stop();
    await snH?.stop();
    await noneH?.stop();
    await refusingH?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  afterEach(() => lab.store.clearFaults());

  const jiraIssuesOf = (incidentId: string) =>
    lab.store.jiraIssues().filter((i) => i.labels.includes(jiraIncidentLabel(incidentId)));

  it('Jira: one issue, a comment per phase and decision, and the Done transition', async () => {
    const title = 'Ransomware <script>alert(1)</script> *bold* on ws';
    const s = await respond(jiraH, title);
    const [issue, ...others] = jiraIssuesOf(s.incidentId);
    expect(others).toHaveLength(0);
    expect(s.ticket).toMatchObject({
      system: 'jira',
      status: 'closed',
      key: issue!.key,
      displayId: issue!.key,
      url: `${lab.url}/jira/browse/${issue!.key}`,
    });
    expect(s.ticket!.lastError).toBeUndefined();
    // The title went as data (the summary is plain text, never markup).
    expect(issue!.summary).toContain(title);
    const comments = issue!.comments.map((c) => adfPlainText(c.body));
    for (const phase of PHASE_COMMENTS)
      expect(comments.filter((c) => c.startsWith(`Phase: ${phase} `))).toHaveLength(1);
    const decisions = comments.filter((c) => c.startsWith('Approval '));
    expect(decisions).toEqual([expect.stringContaining('approved: isolate_host on ws-tk-')]);
    expect(decisions[0]).toContain('alice approved ("confirmed")');
    // Comments are in the order things happened: containment's decision before investigation began.
    expect(comments.findIndex((c) => c.startsWith('Approval '))).toBeLessThan(
      comments.findIndex((c) => c.startsWith('Phase: investigation')),
    );
    expect(issue!.history.at(-1)).toBe('Done');

    // The audit timeline names each ticket call.
    const timeline = buildTimeline(await exportIncidentHistory(jiraH.client, s.incidentId));
    const calls = timeline.filter((e) => e.summary.startsWith('Ticket '));
    expect(calls[0]).toMatchObject({ kind: 'notification', summary: `Ticket open ${issue!.key}: succeeded` });
    expect(calls.at(-1)).toMatchObject({ summary: `Ticket close ${issue!.key}: succeeded` });
    expect(calls).toHaveLength(2 + PHASE_COMMENTS.length + 1);
  }, 90_000);

  it('Jira: a lost answer to the create and a 5xx on the search still make one issue', async () => {
    lab.store.addFault({
      match: { vendor: 'jira', method: 'POST', pathPattern: '/rest/api/3/issue$' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    lab.store.addFault({
      match: { vendor: 'jira', method: 'GET', pathPattern: '/rest/api/3/search/jql' },
      fault: '5xx',
      times: 1,
    });
    const s = await respond(jiraH, 'Beacon to 203.0.113.9');
    // Both faults fired (a rule that has fired its `times` is removed).
    expect(lab.store.faults()).toEqual([]);
    const issues = jiraIssuesOf(s.incidentId);
    expect(issues).toHaveLength(1);
    expect(s.ticket).toMatchObject({ status: 'closed', key: issues[0]!.key });
    expect(issues[0]!.history.at(-1)).toBe('Done');
  }, 90_000);

  it('Jira: continue-as-new while the ticket is open opens no second issue and repeats no comment', async () => {
    let runs = 0;
    const s = await respond(jiraH, 'Alert storm', async (alert, incidentId) => {
      const n = 1_100;
      await pool(
        Array.from({ length: n }, (_, i) => i),
        8,
        (i) => jiraH.ingest({ ...alert, id: `storm-${incidentId}-${i}` }),
      );
      runs = (await jiraH.until(incidentId, (x) => x.runs >= 1, 'continue-as-new')).runs;
    });
    expect(runs).toBeGreaterThanOrEqual(1);
    const issues = jiraIssuesOf(s.incidentId);
    expect(issues).toHaveLength(1);
    expect(s.ticket).toMatchObject({ status: 'closed', key: issues[0]!.key });
    const comments = issues[0]!.comments.map((c) => adfPlainText(c.body));
    for (const phase of PHASE_COMMENTS)
      expect(comments.filter((c) => c.startsWith(`Phase: ${phase} `))).toHaveLength(1);
    expect(comments.filter((c) => c.startsWith('Approval '))).toHaveLength(1);
  }, 120_000);

  it('ServiceNow: one incident record with work notes, resolved', async () => {
    const s = await respond(snH, 'Credential stuffing against j.doe');
    const records = lab.store
      .serviceNowIncidents()
      .filter((r) => r.fields.correlation_id === serviceNowCorrelationId(s.incidentId));
    expect(records).toHaveLength(1);
    const record = records[0]!;
    expect(s.ticket).toMatchObject({
      system: 'servicenow',
      status: 'closed',
      key: record.sysId,
      displayId: record.number,
    });
    expect(record.fields.state).toBe('6');
    const notes = record.notes.map((n) => JSON.stringify(n));
    for (const phase of PHASE_COMMENTS)
      expect(notes.filter((n) => n.includes(`Phase: ${phase} `))).toHaveLength(1);
    expect(notes.filter((n) => n.includes('Approval apr-1 approved'))).toHaveLength(1);
  }, 90_000);

  it('a comment refused for good is recorded and skipped; the rest is sent and the ticket closes', async () => {
    const s = await respond(refusingH, 'Refused comment');
    expect(s.phase).toBe('closed');
    expect(s.ticket).toMatchObject({
      status: 'closed',
      lastError: 'approval:apr-1: comment refused by a field rule',
    });
    expect(s.ticket!.synced).toContain('approval:apr-1');
    const [issue, ...others] = jiraIssuesOf(s.incidentId);
    expect(others).toHaveLength(0);
    const comments = issue!.comments.map((c) => adfPlainText(c.body));
    expect(comments.filter((c) => c.startsWith('Approval '))).toHaveLength(0);
    expect(comments.filter((c) => c.startsWith('Phase: lessons learned '))).toHaveLength(1);
    expect(issue!.history.at(-1)).toBe('Done');
  }, 90_000);

  it('no ticket system on the worker: recorded once as not configured, the response goes on', async () => {
    const s = await respond(noneH, 'Nothing to mirror');
    expect(s.ticket).toEqual({ system: 'none', status: 'not_configured', synced: [] });
    expect(s.phase).toBe('closed');
  }, 90_000);
});
