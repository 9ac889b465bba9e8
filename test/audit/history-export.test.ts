import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import {
  AmbiguousIncidentIdError,
  exportIncidentHistory,
  findFirstRunId,
  isHistoryExport,
  runFileName,
  startedInfo,
} from '../../src/audit/history';
import { historyFromJson, historyToJson } from '../../src/audit/history-json';
import {
  historiesFromFiles,
  historiesOfIncident,
  installQuietRuntime,
  listHistoryFiles,
  replayHistories,
} from '../../src/audit/replay';
import { IncidentNotFoundError } from '../../src/incidents/errors';
import { requireEnv, TEST_ENV } from '../support/env';
import { actors, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { waitFor } from '../support/processes';
import { testClient } from '../support/temporal';
import { ingestWithRetry, pool, runCli, runRichIncident } from './helpers';

const execFileAsync = promisify(execFile);

/** `temporal workflow show --output json` for one run, parsed. */
async function cliShow(workflowId: string, runId: string): Promise<unknown> {
  const { stdout } = await execFileAsync(
    requireEnv(TEST_ENV.cliPath),
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--run-id',
      runId,
      '--output',
      'json',
      '--address',
      requireEnv(TEST_ENV.address),
      '--namespace',
      requireEnv(TEST_ENV.namespace),
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return JSON.parse(stdout);
}

/** The first run IDs of every chain of a workflow ID (visibility). */
async function findChains(workflowId: string): Promise<string[]> {
  const client = await testClient();
  try {
    const firsts = new Set<string>();
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      firsts.add(wf.raw.firstRunId || wf.runId);
    return [...firsts];
  } finally {
    await client.connection.close();
  }
}

describe('history export: every run of an incident, in the `temporal workflow show` JSON shape', () => {
  let estate: MemoryEstate;
  let h: Harness;
  let tmp: string;
  const bundle = () => ({ codePath: requireEnv(TEST_ENV.bundle) });
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-audit-export-'));
    installQuietRuntime();
  });
  afterAll(async () => {
    await h?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('exports a closed incident identically to the Temporal CLI, and it replays', async () => {
    const tag = randomUUID().slice(0, 8);
    const { incidentId, workflowId } = await runRichIncident(h, estate, `exp-${tag}`);
    const exported = await exportIncidentHistory(h.client, incidentId);
    expect(exported).toMatchObject({
      format: 'quell.history-export/v1',
      incidentId,
      workflowId,
      encryption: { encrypted: false },
    });
    expect(exported.runs).toHaveLength(1);
    const run = exported.runs[0]!;
    expect(run.status).toBe('COMPLETED');
    expect(startedInfo(run.history)).toMatchObject({ runId: run.runId, firstExecutionRunId: run.runId });
    // Same JSON as the real CLI prints for that run.
    expect(run.history).toEqual(await cliShow(workflowId, run.runId));
    // Round trip: JSON -> History proto -> JSON is lossless.
    expect(historyToJson(historyFromJson(run.history))).toEqual(run.history);

    const summary = await replayHistories(historiesOfIncident(h.client, incidentId), {
      workflowBundle: bundle(),
      progress: false,
    });
    expect(summary.failures).toEqual([]);
    expect(summary.replayed).toBe(1);
  });

  it('follows the continue-as-new chain: every run, in order, each matching the CLI, all replaying', async () => {
    const tag = randomUUID().slice(0, 8);
    const base = { rule: `can.${tag}`, hosts: [`ws-can-${tag}`], accounts: [], severity: 'low' as const };
    let incidentId = '';
    // The workflow continues as new after 1,000 messages.
    await pool(
      Array.from({ length: 1_010 }, (_, i) => i),
      16,
      async (i) => {
        incidentId = (await ingestWithRetry(h, { ...base, id: `can-${tag}-${i}` })).incidentId;
      },
    );
    const state = await h.until(
      incidentId,
      (s) => s.runs >= 1 && s.alerts.count === 1_010,
      'continue-as-new',
    );
    await h.service.close(incidentId, 'false_positive', 'storm over', actors.alice);
    await h.until(incidentId, (s) => s.status === 'closed', 'closed');

    const exported = await exportIncidentHistory(h.client, incidentId);
    expect(exported.runs.length).toBe(state.runs + 1);
    expect(exported.runs.map((r) => r.status)).toEqual([
      ...Array.from({ length: state.runs }, () => 'CONTINUED_AS_NEW'),
      'COMPLETED',
    ]);
    const first = exported.runs[0]!.runId;
    for (const [i, run] of exported.runs.entries()) {
      const info = startedInfo(run.history);
      expect(info.firstExecutionRunId).toBe(first);
      if (i > 0) expect(info.continuedExecutionRunId).toBe(exported.runs[i - 1]!.runId);
      expect(run.history).toEqual(await cliShow(exported.workflowId, run.runId));
    }
    // The visibility query the chain is found by names every run (visibility is eventually consistent).
    const expectedRuns = exported.runs.map((r) => r.runId).sort();
    await waitFor(
      async () => {
        const listed: string[] = [];
        for await (const wf of h.client.workflow.list({
          query: `WorkflowId = '${exported.workflowId}' AND QuellIncidentId = '${incidentId}'`,
        }))
          listed.push(wf.runId);
        return JSON.stringify(listed.sort()) === JSON.stringify(expectedRuns) || undefined;
      },
      15_000,
      'visibility to list every run of the chain',
    );
    // CLI: the export file and standalone per-run files; both replay.
    const out = path.join(tmp, `${incidentId}.json`);
    const runsDir = path.join(tmp, 'runs');
    const cli = await runCli(['history', 'export', incidentId, '--out', out, '--runs-dir', runsDir], {
      connect: () => testClient(),
    });
    expect(cli.exitCode).toBe(0);
    const fromFile: unknown = JSON.parse(await fs.readFile(out, 'utf8'));
    expect(isHistoryExport(fromFile)).toBe(true);
    expect((fromFile as typeof exported).runs.map((r) => r.runId)).toEqual(exported.runs.map((r) => r.runId));
    const runFiles = await listHistoryFiles([runsDir]);
    expect(runFiles.map((f) => path.basename(f))).toEqual(
      exported.runs.map((_, i) => runFileName(incidentId, i)).sort(),
    );
    const second = JSON.parse(await fs.readFile(path.join(runsDir, runFileName(incidentId, 1)), 'utf8'));
    expect(second).toEqual(await cliShow(exported.workflowId, exported.runs[1]!.runId));

    const summary = await replayHistories(historiesFromFiles([out, ...runFiles]), {
      workflowBundle: bundle(),
      progress: false,
    });
    expect(summary.failures).toEqual([]);
    expect(summary.replayed).toBe(exported.runs.length * 2);

    // `quell replay --incident` fetches the same chain.
    const replayed = await runCli(['replay', '--incident', incidentId, '--json'], {
      connect: () => testClient(),
      workflowBundle: bundle(),
    });
    expect(replayed.exitCode).toBe(0);
    expect(JSON.parse(replayed.stdout)).toMatchObject({ replayed: exported.runs.length, failed: 0 });
  }, 180_000);

  it('`quell replay --all --query` replays what visibility lists', async () => {
    const { incidentId, workflowId } = await runRichIncident(h, estate, `all-${randomUUID().slice(0, 8)}`);
    const r = await runCli(['replay', '--all', '--query', `WorkflowId = '${workflowId}'`, '--json'], {
      connect: () => testClient(),
      workflowBundle: bundle(),
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ replayed: 1, passed: 1, failed: 0 });
    expect(incidentId).toMatch(/^INC-/);
  });

  it('a later incident on the same workflow ID: the chains stay apart; a shared incident ID is refused as ambiguous', async () => {
    const tag = `reuse-${randomUUID().slice(0, 8)}`;
    const first = await runRichIncident(h, estate, tag);
    // Same rule and host: same correlation key, same workflow ID, a new run chain (a new incident).
    const second = await h.ingest({
      id: `again-${tag}`,
      rule: `rich.${tag}`,
      hosts: [`ws-${tag}`],
      accounts: [],
      severity: 'low',
    });
    expect(second.workflowId).toBe(first.workflowId);
    const secondFirstRun = (await h.client.workflow.getHandle(second.workflowId).describe()).runId;
    const firstRuns = await exportIncidentHistory(h.client, first.incidentId, {
      firstRunId: (await findChains(first.workflowId)).find((r) => r !== secondFirstRun)!,
    });
    const secondRuns = await exportIncidentHistory(h.client, second.incidentId, {
      firstRunId: secondFirstRun,
    });
    expect(firstRuns.runs.map((r) => r.status)).toEqual(['COMPLETED']);
    expect(secondRuns.runs.map((r) => r.status)).toEqual(['RUNNING']);
    expect(startedInfo(secondRuns.runs[0]!.history).firstExecutionRunId).toBe(secondFirstRun);
    if (second.incidentId === first.incidentId) {
      // Two chains with the same run tag (six hex digits of the first run ID): the export refuses to guess.
      await expect(exportIncidentHistory(h.client, first.incidentId)).rejects.toBeInstanceOf(
        AmbiguousIncidentIdError,
      );
      const cli = await runCli(['history', 'export', first.incidentId], { connect: () => testClient() });
      expect(cli.exitCode).toBe(1);
      expect(cli.stderr).toMatch(/names 2 incidents .*--first-run/);
    } else {
      expect((await exportIncidentHistory(h.client, second.incidentId)).runs[0]!.runId).toBe(secondFirstRun);
    }
    await h.service
      .close(second.incidentId, 'false_positive', undefined, actors.alice)
      .catch(() => undefined);
  });

  it('an unknown incident is reported as not found', async () => {
    await expect(findFirstRunId(h.client, 'INC-0000000000000000-000000')).rejects.toBeInstanceOf(
      IncidentNotFoundError,
    );
    await expect(exportIncidentHistory(h.client, 'not-an-incident')).rejects.toBeInstanceOf(
      IncidentNotFoundError,
    );
    const r = await runCli(['history', 'export', 'INC-0000000000000000-000000'], {
      connect: () => testClient(),
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('No incident INC-0000000000000000-000000');
  });
});
