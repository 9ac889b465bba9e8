import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Phase } from '../../src/domain/incident';
import { InvalidCursorError } from '../../src/incidents/errors';
import { IncidentService } from '../../src/incidents/service';
import { normalizeGeneric } from '../../src/ingest/generic';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { genericAlert } from '../support/alerts';
import {
  actionOf,
  actors,
  approvalFor,
  startHarness,
  testPlaybookYaml,
  type Harness,
} from '../support/incident-harness';
import { testLogger } from '../support/logger';
import { MemoryEstate } from '../support/memory-estate';
import { waitFor } from '../support/processes';
import { startTestWorker, testClient, type TestWorker } from '../support/temporal';

describe('IncidentService.list cursors (real worker, real Temporal dev server)', () => {
  let worker: TestWorker;
  let client: Client;
  let incidents: IncidentService;
  const opened: string[] = [];

  beforeAll(async () => {
    worker = await startTestWorker({ activityDeps: { connectors: new MemoryEstate().connectors() } });
    client = await testClient();
    incidents = new IncidentService(
      client,
      worker.taskQueue,
      await loadPlaybooks(path.resolve(__dirname, '../../playbooks')),
      testLogger(),
    );
    for (let i = 0; i < 2; i++) {
      const alert = normalizeGeneric(genericAlert({ severity: 'low' }), new Date().toISOString());
      opened.push((await incidents.ingestAlert(alert, 'test')).incidentId);
    }
    // Visibility is eventually consistent: wait until a first page of one has a next page.
    const deadline = Date.now() + 15_000;
    while (!(await incidents.list({ limit: 1 })).nextCursor && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  it('filters by playbook', async () => {
    const ransomware = await incidents.list({ limit: 100, playbook: 'ransomware-host' });
    expect(ransomware.items.map((i) => i.incidentId)).toEqual(expect.arrayContaining(opened));
    expect(new Set(ransomware.items.map((i) => i.playbook))).toEqual(new Set(['ransomware-host']));
    const c2 = await incidents.list({ limit: 100, playbook: 'c2-traffic' });
    expect(c2.items.filter((i) => opened.includes(i.incidentId))).toEqual([]);
  });

  it('pages with the cursor it issued', async () => {
    const first = await incidents.list({ limit: 1 });
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await incidents.list({ limit: 1, cursor: first.nextCursor! });
    expect(second.items).toHaveLength(1);
    expect(second.items[0]!.incidentId).not.toBe(first.items[0]!.incidentId);
  });

  it.each([
    ['decodable garbage', '0000'],
    ['zero bytes', 'AAAAAAAAAAAAAAAAAAAA'],
    ['a base64url JSON object', Buffer.from('{"a":1}').toString('base64url')],
    ['not base64url at all', 'not a cursor!'],
  ])('refuses %s with InvalidCursorError', async (_what, cursor) => {
    await expect(incidents.list({ limit: 5, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('refuses a real cursor under other filters, and a truncated one', async () => {
    const { nextCursor } = await incidents.list({ limit: 1 });
    await expect(incidents.list({ limit: 1, status: 'closed', cursor: nextCursor! })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );
    await expect(incidents.list({ limit: 1, cursor: nextCursor!.slice(0, -2) })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );
  });
});

describe('IncidentService.list pending approvals (real worker, real Temporal dev server)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ connectors: new MemoryEstate().connectors() });
  });
  afterAll(() => h?.stop());

  // Visibility is eventually consistent: poll the list until the incident's row says what is expected.
  const listedPending = (incidentId: string, expected: number) =>
    waitFor(
      async () => {
        const { items } = await h.service.list({ limit: 100, playbook: 'test-pb' });
        const item = items.find((i) => i.incidentId === incidentId);
        return item?.pendingApprovals === expected ? item : undefined;
      },
      15_000,
      `${incidentId} listed with ${expected} pending approvals`,
    );

  it('lists 1 while the isolation waits for its approval, and 0 once it is decided', async () => {
    const host = `ws-list-pending-${Date.now()}`;
    const { incidentId } = await h.ingest({ severity: 'high', hosts: [host], accounts: [] });
    const s = await h.until(incidentId, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    expect(s.approvals.filter((a) => a.state === 'pending')).toHaveLength(1);
    await expect(listedPending(incidentId, 1)).resolves.toMatchObject({ pendingApprovals: 1 });

    const approval = approvalFor(s, actionOf(s, 'isolate_host', host).actionId);
    await h.service.decideApproval(incidentId, approval.approvalId, 'approve', undefined, actors.bob);
    await expect(listedPending(incidentId, 0)).resolves.toMatchObject({ pendingApprovals: 0 });
  });
});

describe('IncidentService.countOpen (real worker, real Temporal dev server)', () => {
  // A playbook of its own, so incidents other tests open at the same time are not counted.
  const playbook = `count-${randomUUID().slice(0, 8)}`;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      playbookYaml: testPlaybookYaml().replace('id: test-pb', `id: ${playbook}`),
      connectors: new MemoryEstate().connectors(),
    });
  });
  afterAll(() => h?.stop());

  // Visibility is eventually consistent: poll until Temporal's count is the expected one.
  const counted = (expected: number, phase?: Phase) =>
    waitFor(
      async () =>
        (await h.service.countOpen({ playbook, ...(phase ? { phase } : {}) })) === expected
          ? true
          : undefined,
      15_000,
      `${expected} open ${playbook} incidents${phase ? ` in ${phase}` : ''}`,
    );

  it('counts open incidents by phase, and neither a closed nor a terminated one', async () => {
    const opened = [];
    for (const host of ['ws-count-1', 'ws-count-2']) {
      const receipt = await h.ingest({ severity: 'high', hosts: [host], accounts: [] });
      await h.until(receipt.incidentId, (s) => s.approvals.some((a) => a.state === 'pending'), 'approval');
      opened.push(receipt);
    }
    await counted(2);
    await counted(2, 'containment');
    await counted(0, 'identification');

    // Terminated from outside Quell, its workflow keeps the `open` search attribute but is no longer running.
    await h.client.workflow.getHandle(opened[0]!.workflowId).terminate('count test');
    await counted(1);
    await h.service.close(opened[1]!.incidentId, 'false_positive', undefined, actors.bob);
    await counted(0);
  });
});
