/**
 * Memory probe (diagnostic, not a benchmark): one process runs a Temporal dev server, a worker in debugMode
 * (workflows on the main thread, so their JS heap is this process's heap) and N workflows waiting: Quell
 * incidents on the bench-approval playbook, or the floor's `floorAwaitingDecision`. Prints RSS, JS heap and
 * external memory idle and with N waiting (after a full GC), per workflow, and the first workflow's history
 * size; optionally writes a heap snapshot. Its RSS figures include what bundling left behind in this process:
 * the heap figures are the ones to compare; `npm run bench -- --only memory` is the RSS measurement.
 *
 * Run: node --expose-gc -r tsx/cjs scripts/memory-probe.ts <quell|floor> [n] [--snapshot file] [--threads]
 *   [--no-stacks]: without the SDK's stack trace for every pending workflow promise (its share of the heap).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { bundleWorkflowCode, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { temporal as temporalProto } from '@temporalio/proto';
import { parseIncidentId } from '../src/contracts';
import { loadConfig } from '../src/config';
import { normalizeGeneric } from '../src/ingest/generic';
import { IncidentService } from '../src/incidents/service';
import { loadPlaybooks } from '../src/playbooks/loader';
import { connectClient, connectWorker } from '../src/temporal/connection';
import { provisionTemporal } from '../src/temporal/provision';
import { bundleWorkflows } from '../src/worker';
import { FLOOR_AWAITING_DECISION_WORKFLOW_TYPE, floorAlertUpdate } from '../bench/floor/contract';
import type { floorAwaitingDecision } from '../bench/floor/workflows';

const ROOT = path.resolve(__dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rssBytes(): Promise<number> {
  const text = await fs.readFile('/proc/self/status', 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1]) * 1024;
}

async function reading(): Promise<{ rss: number; heap: number; external: number }> {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(300);
  }
  const mu = process.memoryUsage();
  return { rss: await rssBytes(), heap: v8.getHeapStatistics().used_heap_size, external: mu.external };
}

async function main(): Promise<void> {
  const [mode = 'quell', nText = '300'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const n = Number(nText);
  const snapIdx = process.argv.indexOf('--snapshot');
  const snapshot = snapIdx > 0 ? process.argv[snapIdx + 1] : undefined;
  const threads = process.argv.includes('--threads');
  // Diagnostic only: the SDK keeps a stack trace for every pending workflow promise; this measures their share.
  if (process.argv.includes('--no-stacks'))
    (v8.promiseHooks as { createHook: unknown }).createHook = () => () => undefined;
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-memprobe-'));
  const { TEMPORAL_ADDRESS: _ignored, ...env } = process.env;
  const config = loadConfig({ ...env, QUELL_DATA_DIR: runDir });
  const server = await provisionTemporal(config, {
    embeddedOverrides: {
      port: 0,
      headless: true,
      dbFile: null,
      logFile: path.join(runDir, 'temporal-server.log'),
      extraArgs: ['--sqlite-pragma', 'synchronous=OFF'],
    },
  });
  const endpoint = { address: server.address, namespace: server.namespace };
  const client = await connectClient(endpoint);
  const connection = await connectWorker(endpoint);
  const noop = () => undefined;
  const code =
    mode === 'floor'
      ? (
          await bundleWorkflowCode({
            workflowsPath: path.join(ROOT, 'bench', 'floor', 'workflows.ts'),
            logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop },
          })
        ).code
      : (await bundleWorkflows()).code;
  let notified = 0;
  const taskQueue = `memprobe-${mode}`;
  const worker = await Worker.create({
    connection,
    namespace: server.namespace,
    taskQueue,
    workflowBundle: { code },
    debugMode: !threads,
    activities:
      mode === 'floor'
        ? { notify: async () => void notified++, isolate: async () => undefined }
        : { notifyStakeholders: async () => (notified++, { delivered: true }) },
    maxCachedWorkflows: Math.max(n * 2, 1000),
  });
  const running = worker.run();
  await sleep(2000);
  const before = await reading();

  const playbooks = await loadPlaybooks(path.join(ROOT, 'bench', 'playbooks'));
  const service = new IncidentService(client, taskQueue, playbooks);
  const ids: string[] = [];
  const open = async (i: number) => {
    const host = `ws-probe-${i}`;
    if (mode === 'floor') {
      const workflowId = `probe-floor-${i}`;
      ids.push(workflowId);
      await client.workflow.executeUpdateWithStart(floorAlertUpdate, {
        args: [{ alertId: `${host}-alert-1`, host }],
        startWorkflowOperation: new WithStartWorkflowOperation<typeof floorAwaitingDecision>(
          FLOOR_AWAITING_DECISION_WORKFLOW_TYPE,
          { workflowId, taskQueue, args: [host], workflowIdConflictPolicy: 'USE_EXISTING' },
        ),
      });
    } else {
      const r = await service.ingestAlert(
        normalizeGeneric(
          {
            source: 'bench-siem',
            id: `${host}-alert-1`,
            title: `Bench: suspicious process on ${host}`,
            rule: 'bench.approval.wait',
            severity: 'high',
            hosts: [host],
          },
          new Date().toISOString(),
        ),
        'bench-siem',
      );
      ids.push(r.incidentId);
    }
  };
  for (let i = 0; i < n; i += 25)
    await Promise.all(Array.from({ length: Math.min(25, n - i) }, (_, k) => open(i + k)));
  while (notified < n) await sleep(200);
  await sleep(2000);
  const after = await reading();
  const per = (k: 'rss' | 'heap' | 'external') => (after[k] - before[k]) / n / 1024;
  console.log(
    JSON.stringify({
      mode,
      n,
      threads,
      noStacks: process.argv.includes('--no-stacks'),
      before,
      after,
      perWorkflowKiB: { rss: per('rss'), heap: per('heap'), external: per('external') },
    }),
  );
  if (mode === 'quell') {
    const state = await service.getState(ids[0]!);
    console.log(`state JSON length: ${JSON.stringify(state).length}`);
  }
  {
    const workflowId = mode === 'floor' ? ids[0]! : parseIncidentId(ids[0]!)!.workflowId;
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const bytes = temporalProto.api.history.v1.History.encode(history).finish().length;
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data?.length ?? 0;
    console.log(`history: ${events.length} events, ${bytes} bytes encoded, start input ${input} bytes`);
  }
  if (snapshot) console.log(`snapshot: ${v8.writeHeapSnapshot(snapshot)}`);
  worker.shutdown();
  await running;
  await connection.close();
  await server.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
