/**
 * Quell split as deployed (one `quell api`, three `quell worker` processes) on Temporal Server with PostgreSQL
 * persistence and visibility: an incident walked through approvals to containment and close, a burst of
 * identical alerts, and the incident list as PostgreSQL visibility orders and pages it.
 */
import { randomUUID } from 'node:crypto';
import type { IncidentState } from '../../src/domain/incident';
import type { IncidentListItem } from '../../src/incidents/types';
import { c2Alert, genericAlert } from '../support/alerts';
import { waitFor } from '../support/processes';
import { startProductionStack, TOKENS, type ProductionStack } from './stack';

const as = (token: string) => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });

describe('Quell deployed on a PostgreSQL-backed Temporal (1 api, 3 workers)', () => {
  let stack: ProductionStack;
  beforeAll(async () => {
    stack = await startProductionStack({ workers: 3 });
  }, 180_000);
  afterAll(() => stack?.stop());

  const post = async (path: string, token: string, body: unknown) =>
    fetch(`${stack.apiUrl}${path}`, { method: 'POST', headers: as(token), body: JSON.stringify(body) });
  const state = (id: string) => stack.get<IncidentState>(`/api/v1/incidents/${id}`);
  const until = async (id: string, what: string, ok: (s: IncidentState) => boolean, ms = 60_000) => {
    let last: IncidentState | undefined;
    await waitFor(async () => ok((last = await state(id))), ms, what);
    return last!;
  };
  const raise = async (alert: unknown): Promise<string> => {
    const res = await post('/api/v1/alerts', TOKENS.ingest, alert);
    expect(res.status).toBe(202);
    return ((await res.json()) as { incidentId: string }).incidentId;
  };

  it('walks an incident through two approvals, containment, the checklist and close', async () => {
    const host = `ws-prod-${randomUUID().slice(0, 8)}`;
    const id = await raise(c2Alert(host));
    const pending = await until(id, 'an isolation approval pending', (s) =>
      s.approvals.some((a) => a.state === 'pending' && a.request.target === host),
    );
    const approval = pending.approvals.find((a) => a.state === 'pending' && a.request.target === host)!;
    const decide = (token: string) =>
      post(`/api/v1/incidents/${id}/approvals/${approval.approvalId}`, token, { decision: 'approve' });
    expect((await decide(TOKENS.alice)).status).toBe(200);
    // The same approver again: refused, and the host stays as it is.
    expect((await decide(TOKENS.alice)).status).toBe(409);
    expect(stack.lab.store.findHost(host, false)?.status ?? 'normal').toBe('normal');
    expect((await decide(TOKENS.bob)).status).toBe(200);
    await waitFor(
      async () => stack.lab.store.findHost(host, false)?.status === 'contained',
      30_000,
      'host contained',
    );

    const eradicating = await until(id, 'the eradication checklist', (s) => s.phase === 'eradication');
    for (const item of eradicating.checklist) {
      const done = await post(`/api/v1/incidents/${id}/checklist/${item.itemId}`, TOKENS.responder, {});
      expect(done.status).toBe(200);
    }
    // Recovery releases the host once approvers agree; then the incident may close as resolved.
    await waitFor(
      async () => {
        const s = await state(id);
        if (s.phase === 'lessons_learned') return true;
        for (const a of s.approvals.filter((x) => x.state === 'pending')) {
          for (const token of [TOKENS.alice, TOKENS.bob]) {
            const res = await post(`/api/v1/incidents/${id}/approvals/${a.approvalId}`, token, {
              decision: 'approve',
            });
            expect([200, 409]).toContain(res.status);
          }
        }
        return false;
      },
      90_000,
      'recovery done',
    );
    const closed = await post(`/api/v1/incidents/${id}/close`, TOKENS.alice, { resolution: 'resolved' });
    expect(closed.status).toBeLessThan(300);
    const final = await until(id, 'closed', (s) => s.status === 'closed', 90_000);
    expect(
      final.approvals.find((a) => a.approvalId === approval.approvalId)?.decisions.map((d) => d.decider),
    ).toEqual(['alice', 'bob']);
    expect(stack.lab.store.findHost(host, false)?.status).not.toBe('contained');
    const isolations = stack.lab.store.ledger().filter((e) => e.target === host && e.effect === 'contain');
    expect(isolations).toHaveLength(1);
  });

  it('opens one incident for 50 identical alerts sent at once', async () => {
    const alert = genericAlert({ severity: 'high', hosts: [`ws-burst-${randomUUID().slice(0, 8)}`] });
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => post('/api/v1/alerts', TOKENS.ingest, alert)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 50 }, () => 202));
    const ids = new Set(
      await Promise.all(answers.map(async (a) => ((await a.json()) as { incidentId: string }).incidentId)),
    );
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    const s = await state(id!);
    expect(s.alerts).toMatchObject({ count: 1, deduplicated: 49 });
    const listed = await stack.get<{ items: IncidentListItem[] }>(
      `/api/v1/incidents?limit=100&playbook=${s.playbook.id}`,
    );
    expect(listed.items.filter((i) => i.hosts.includes(alert.hosts![0]!))).toHaveLength(1);
  });

  it('lists open incidents first, newest first, then closed ones by close time, filtered and paged', async () => {
    const tag = randomUUID().slice(0, 8);
    const open1 = await raise(c2Alert(`ws-list-a-${tag}`));
    const closing = await raise(c2Alert(`ws-list-b-${tag}`));
    const open2 = await raise(c2Alert(`ws-list-c-${tag}`));
    for (const id of [open1, closing, open2])
      await until(id, 'the incident open', (s) => s.approvals.length > 0);
    const closed = await post(`/api/v1/incidents/${closing}/close`, TOKENS.alice, {
      resolution: 'false_positive',
    });
    expect(closed.status).toBeLessThan(300);
    await until(closing, 'the incident closed', (s) => s.status === 'closed', 90_000);
    const listAll = async (filter: string) => {
      const seen: IncidentListItem[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await stack.get<{ items: IncidentListItem[]; nextCursor?: string }>(
          `/api/v1/incidents?${filter}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items);
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor && pages < 100);
      return { seen, pages };
    };
    // Visibility is eventually consistent: wait until the close is listed.
    await waitFor(
      async () => (await listAll('status=closed')).seen.some((i) => i.incidentId === closing),
      20_000,
      'the closed incident listed',
    );
    const { seen, pages } = await listAll('playbook=c2-traffic');
    expect(pages).toBeGreaterThan(1);
    const ids = seen.map((i) => i.incidentId);
    expect(new Set(ids).size).toBe(ids.length);
    const openItems = seen.filter((i) => i.status === 'open');
    const closedItems = seen.filter((i) => i.status === 'closed');
    // Every open incident before every closed one; open ones by start time, closed ones by close time.
    expect(seen.slice(0, openItems.length).every((i) => i.status === 'open')).toBe(true);
    const startsOpen = openItems.map((i) => Date.parse(i.startedAt));
    expect(startsOpen).toEqual([...startsOpen].sort((a, b) => b - a));
    const closes = closedItems.map((i) => Date.parse(i.closedAt!));
    expect(closes).toEqual([...closes].sort((a, b) => b - a));
    expect(ids.indexOf(open2)).toBeLessThan(ids.indexOf(open1));
    expect(ids.indexOf(open1)).toBeLessThan(ids.indexOf(closing));

    const closedOnly = await listAll('status=closed');
    expect(closedOnly.seen.map((i) => i.incidentId)).toContain(closing);
    expect(closedOnly.seen.every((i) => i.status === 'closed')).toBe(true);
    const severity = await listAll(
      `severity=medium&phase=${seen.find((i) => i.incidentId === open1)!.phase!}`,
    );
    expect(severity.seen.map((i) => i.incidentId)).toContain(open1);
    expect(severity.seen.every((i) => i.severity === 'medium')).toBe(true);
  });
});
