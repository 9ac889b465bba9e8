/**
 * A rolling upgrade on a PostgreSQL-backed Temporal: incidents wait on approvals while the three workers are
 * replaced one by one by a build with a `patched()` workflow change; every incident completes, runs started by
 * the new build carry the patch, and every history (old, mixed and new) replays against the new build.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { IncidentState } from '../../src/domain/incident';
import { installQuietRuntime } from '../../src/audit/replay/run';
import { c2Alert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { waitFor } from '../support/processes';
import { startProductionStack, TOKENS, type ProductionStack } from './stack';
import { UPGRADE_PATCH } from './fixtures/upgraded-workflows';

interface Opened {
  incidentId: string;
  workflowId: string;
  host: string;
}

const as = (token: string) => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });

describe('a rolling upgrade of the workers on a PostgreSQL-backed Temporal', () => {
  let stack: ProductionStack;
  let upgradedBundle: string;
  beforeAll(async () => {
    stack = await startProductionStack({ workers: 3 });
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'fixtures', 'upgraded-workflows.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    upgradedBundle = path.join(stack.dataDir, 'upgraded-workflow-bundle.js');
    await fs.writeFile(upgradedBundle, code);
  }, 240_000);
  afterAll(() => stack?.stop());

  const post = (p: string, token: string, body: unknown) =>
    fetch(`${stack.apiUrl}${p}`, { method: 'POST', headers: as(token), body: JSON.stringify(body) });
  const state = (id: string) => stack.get<IncidentState>(`/api/v1/incidents/${id}`);
  const open = async (label: string): Promise<Opened> => {
    const host = `ws-upgrade-${label}-${randomUUID().slice(0, 6)}`;
    const res = await post('/api/v1/alerts', TOKENS.ingest, c2Alert(host));
    expect(res.status).toBe(202);
    const { incidentId, workflowId } = (await res.json()) as { incidentId: string; workflowId: string };
    await waitFor(
      async () => (await state(incidentId)).approvals.some((a) => a.state === 'pending'),
      30_000,
      'an approval pending',
    );
    return { incidentId, workflowId, host };
  };
  /** `who` approves the first pending approval, unless they already have (two-person approvals need two). */
  const approveFirstPending = async (id: string, who: 'alice' | 'bob') => {
    const pending = (await state(id)).approvals.find((a) => a.state === 'pending');
    if (!pending || pending.decisions.some((d) => d.decider === who)) return;
    const res = await post(`/api/v1/incidents/${id}/approvals/${pending.approvalId}`, TOKENS[who], {
      decision: 'approve',
    });
    expect(res.status).toBe(200);
  };

  it('replaces every worker while incidents wait; all complete, and old and new histories replay', async () => {
    const before: Opened[] = [];
    for (let i = 0; i < 4; i++) before.push(await open(`old${i}`));

    // One worker at a time: drain it (SIGTERM), start the new build in its place, move some incidents on.
    const oldWorkers = [...stack.workers];
    for (const [n, w] of oldWorkers.entries()) {
      expect(await stack.stopWorker(w)).toBe(0);
      await stack.addWorker({ QUELL_WORKFLOW_BUNDLE: upgradedBundle });
      await approveFirstPending(before[n]!.incidentId, 'alice');
    }
    const after: Opened[] = [];
    for (let i = 0; i < 2; i++) after.push(await open(`new${i}`));

    // Finish every incident: the remaining approvals, then close as a false positive (containment undone).
    const all = [...before, ...after];
    for (const inc of all) {
      await approveFirstPending(inc.incidentId, 'alice');
      await approveFirstPending(inc.incidentId, 'bob');
      await waitFor(
        async () => stack.lab.store.findHost(inc.host, false)?.status === 'contained',
        30_000,
        `${inc.host} contained`,
      );
      const closed = await post(`/api/v1/incidents/${inc.incidentId}/close`, TOKENS.alice, {
        resolution: 'false_positive',
      });
      expect(closed.status).toBeLessThan(300);
    }
    for (const inc of all) {
      await waitFor(
        async () => (await state(inc.incidentId)).status === 'closed',
        90_000,
        `${inc.incidentId} closed`,
      );
    }

    const histories = await Promise.all(
      all.map(async (inc) => ({
        inc,
        history: await stack.client.workflow.getHandle(inc.workflowId).fetchHistory(),
      })),
    );
    // A patch marker's details hold {"id": "<patch>", ...} under `patch-data` (SDK core's marker).
    const patchesOf = (h: temporal.api.history.v1.IHistory) =>
      (h.events ?? []).flatMap((e) => {
        const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
        if (!data) return [];
        return [(JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id];
      });
    const hasPatch = (h: temporal.api.history.v1.IHistory) => patchesOf(h).includes(UPGRADE_PATCH);
    // Runs the old build started carry no patch (the new build replayed them without it); new runs do.
    expect(histories.filter((x) => before.includes(x.inc)).map((x) => hasPatch(x.history))).toEqual(
      before.map(() => false),
    );
    expect(histories.filter((x) => after.includes(x.inc)).map((x) => hasPatch(x.history))).toEqual(
      after.map(() => true),
    );

    installQuietRuntime();
    const replay = async (code: string, items: typeof histories) => {
      const failures: string[] = [];
      for await (const r of Worker.runReplayHistories(
        { workflowBundle: { code }, replayName: 'rolling-upgrade' },
        items.map((x) => ({ workflowId: x.inc.workflowId, history: x.history })),
      )) {
        if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
      }
      return failures;
    };
    // Every history against the new build; the old build still replays what it started (no patch in them).
    expect(await replay(await fs.readFile(upgradedBundle, 'utf8'), histories)).toEqual([]);
    expect(
      await replay(
        await fs.readFile(requireEnv(TEST_ENV.bundle), 'utf8'),
        histories.filter((x) => before.includes(x.inc)),
      ),
    ).toEqual([]);
  });
});
