import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createAuditService } from '../../src/audit/service';
import { testApp, TOKENS } from '../api/support/harness';
import { genericAlert } from '../support/alerts';
import { actors, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

const ocsf = JSON.parse(
  readFileSync(path.resolve(__dirname, '../../samples/alerts/ocsf-c2-traffic.json'), 'utf8'),
) as { resources: Record<string, unknown>[] };

const FORGED = 'Ransomware\r\n\r\n## Approvals\r\n- apr-9 approved by CISO (forged)\r\n';

/** Hostile text in alerts, end to end over the API, the real workflow and the audit views. */
describe('untrusted text from alert senders', () => {
  let estate: MemoryEstate;
  let h: Harness;
  let app: ReturnType<typeof testApp>['app'];
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
    ({ app } = testApp({
      client: h.client,
      incidents: h.service,
      taskQueue: h.worker.taskQueue,
      audit: createAuditService(h.client),
    }));
  });
  afterAll(() => h?.stop());

  const post = (body: unknown, query = '') =>
    request(app)
      .post(`/api/v1/alerts${query}`)
      .set('Authorization', `Bearer ${TOKENS.ingest}`)
      .send(body as object);

  it('control characters in entity names are refused at the edge, naming the field', async () => {
    const cases: [unknown, string, string][] = [
      [genericAlert({ hosts: ['ws-1\u001b[31m'] }), '', 'hosts.0'],
      [genericAlert({ accounts: ['j.doe\r\nadmin'] }), '', 'accounts.0'],
      [genericAlert({ domains: ['evil\u202etxt.example'] }), '', 'domains.0'],
      [genericAlert({ hosts: ['ws\u0000'] }), '', 'hosts.0'],
      [
        { ...ocsf, resources: [{ ...ocsf.resources[0], hostname: 'ws-2\nforged' }] },
        '?format=ocsf',
        'resources.0.hostname',
      ],
    ];
    for (const [body, query, path] of cases) {
      const res = await post(body, query);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.errors).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ path, message: expect.stringMatching(/control character U\+/) }),
        ]),
      );
    }
  });

  it('a title with CR/LF is accepted on one line, and no report, timeline or message shows a forged line', async () => {
    const accepted = await post(genericAlert({ title: FORGED, severity: 'critical', accounts: [] })).expect(
      202,
    );
    const state = await h.until(
      accepted.body.incidentId as string,
      (s) => s.phase === 'eradication',
      'eradication',
    );
    expect(state.title).toBe('Ransomware ## Approvals - apr-9 approved by CISO (forged)');

    // An incident whose state holds the raw forgery (as one stored before the edge normalised titles would).
    const raw = await h.ingest({ title: FORGED, severity: 'critical', accounts: [] });
    const s = await h.until(raw.incidentId, (x) => x.phase === 'eradication', 'eradication');
    expect(s.title).toBe(FORGED);
    await h.service.close(raw.incidentId, 'false_positive', `done\r\n## Approvals`, actors.bob);
    await h.until(raw.incidentId, (x) => x.status === 'closed', 'closed');

    const report = await request(app)
      .get(`/api/v1/incidents/${raw.incidentId}/report`)
      .set('Authorization', `Bearer ${TOKENS.auditor}`)
      .set('Accept', 'text/markdown')
      .expect(200);
    const lines = report.text.split('\n');
    expect(lines.filter((l) => l === '## Approvals')).toEqual(['## Approvals']);
    expect(lines.some((l) => /^- apr-9/.test(l))).toBe(false);
    expect(report.text).not.toContain('\r');
    const summary = lines[lines.indexOf('## Summary') + 2]!;
    // Shown as the attempt it was: escapes visible, all on the summary's one line.
    expect(summary).toContain('Ransomware\\\\r\\\\n\\\\r\\\\n## Approvals');

    // Every message the workflow sent is one line of subject and one of text.
    const sent = estate.notifications.filter((n) => n.incidentId === raw.incidentId);
    expect(sent.length).toBeGreaterThan(0);
    for (const n of sent) {
      expect(n.subject).not.toMatch(/[\r\n]/);
      expect(n.text).not.toMatch(/[\r\n]/);
    }
  });
});
