/**
 * Worker memory: a Quell worker in a SEPARATE process (`node bin/quell.js worker`, as run from a checkout, so
 * through tsx) on its own task queue, its resident set size read from /proc/<pid>/status (VmRSS) when idle
 * and again with N open incidents each waiting on an approval (bench-approval playbook: isolation needs an
 * approver; the identification notice is sent, then the incident waits).
 *
 * The floor: a bare worker (bench/floor/worker.ts, SDK defaults, the prebuilt floor bundle) in a separate
 * process the same way, idle and then with as many floor workflows each waiting on an update after sending its
 * notice (`floorAwaitingDecision`), read the same way. The two run one after the other, never together.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import {
  FLOOR_AWAITING_DECISION_WORKFLOW_TYPE,
  floorAlertUpdate,
  floorWaitingQuery,
} from '../floor/contract';
import type { floorAwaitingDecision } from '../floor/workflows';
import { cpuBetween, cpuSnapshot, type CpuSnapshot } from '../lib/cpu';
import type { BenchEnv } from '../lib/env';
import { BENCH_DIR, PLAYBOOKS_DIR, ROOT } from '../lib/env';
import { say, ticker } from '../lib/progress';
import { pool, sleep } from '../lib/stats';

export interface MemoryFigures {
  incidents: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  perIncidentBytes: number;
  peakBytes: number;
  waitingOnApproval: number;
  openSeconds: number;
  /** Share of all cores busy from the idle reading to the last one (0..1), and other processes' CPU then. */
  machineBusy?: number;
  othersSeconds?: number;
  othersCores?: number;
  /** The same figures for the bare worker and floor workflows waiting on an update. */
  floor?: FloorMemoryFigures;
  /** Why the floor has no figures, when it failed. */
  floorError?: string;
}

export interface FloorMemoryFigures {
  workflows: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  perWorkflowBytes: number;
  peakBytes: number;
  /** Workflows that answered the query: notice sent, still waiting on the update. */
  waitingOnUpdate: number;
  openSeconds: number;
  machineBusy: number;
  othersSeconds: number;
  othersCores: number;
}

/** Machine load between two snapshots, the worker process's own CPU not counted as others'. */
function load(
  a: CpuSnapshot,
  b: CpuSnapshot,
  env: BenchEnv,
): { machineBusy: number; othersSeconds: number; othersCores: number } {
  const cpu = cpuBetween(a, b, env.workflowThreadIds);
  return {
    machineBusy: cpu.machineBusy,
    othersSeconds: cpu.otherProcessesMs / 1000,
    othersCores: cpu.otherProcessesMs / cpu.wallMs,
  };
}

async function procStatus(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The median of a few RSS readings, half a second apart. */
async function steadyRss(pid: number, samples = 5): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push((await procStatus(pid)).rss);
    if (i < samples - 1) await sleep(500);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

async function spawnWorker(
  env: BenchEnv,
  taskQueue: string,
): Promise<{ child: ChildProcess; output: () => string }> {
  const dataDir = path.join(env.runDir, 'memory-worker');
  await fs.mkdir(dataDir, { recursive: true });
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'quell.js'), 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      TEMPORAL_ADDRESS: env.quell.temporal.address,
      TEMPORAL_NAMESPACE: env.quell.temporal.namespace,
      QUELL_TASK_QUEUE: taskQueue,
      QUELL_LAB_URL: env.lab.url,
      QUELL_DATA_DIR: dataDir,
      QUELL_PLAYBOOKS_DIR: PLAYBOOKS_DIR,
      QUELL_WORKFLOW_BUNDLE: env.quellBundle.path,
      QUELL_LOG_LEVEL: 'warn',
      QUELL_SHUTDOWN_GRACE_MS: '2000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 120_000;
  while (!output.includes('Quell is running') && child.exitCode === null && Date.now() < deadline)
    await sleep(100);
  if (!output.includes('Quell is running')) {
    child.kill('SIGKILL');
    throw new Error(`the memory worker did not start:\n${output}`);
  }
  return { child, output: () => output };
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function runMemory(env: BenchEnv, opts: { incidents: number }): Promise<MemoryFigures> {
  const quell = await runQuellMemory(env, opts);
  say(
    `  memory: Quell ${(quell.perIncidentBytes / 1024).toFixed(0)} KiB per incident; now the floor's bare worker`,
  );
  try {
    quell.floor = await runFloorMemory(env, { workflows: opts.incidents });
  } catch (err) {
    // Quell's figures stand on their own; the floor's failure is reported with them.
    quell.floorError = err instanceof Error ? err.message : String(err);
    say(`  memory floor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  return quell;
}

async function runQuellMemory(env: BenchEnv, opts: { incidents: number }): Promise<MemoryFigures> {
  const taskQueue = `bench-memory-${env.tag}`;
  const worker = await spawnWorker(env, taskQueue);
  const pid = worker.child.pid!;
  // If the bench dies, the worker must not outlive it.
  const killOnExit = () => worker.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await sleep(3_000);
    const cpuBefore = await cpuSnapshot([...(await env.serverPids()), pid]);
    const before = await steadyRss(pid);
    say(
      `  memory: worker pid ${pid} idle at ${(before / 1048576).toFixed(1)} MiB; opening ${opts.incidents} incidents`,
    );
    const service = new IncidentService(env.client, taskQueue, env.playbooks);
    const noticesBefore = env.probes.messages.get('responders') ?? 0;
    const notices = () => (env.probes.messages.get('responders') ?? 0) - noticesBefore;
    let opened = 0;
    const progress = ticker('memory', () => `${opened}/${opts.incidents} opened, ${notices()} notices sent`);
    const started = Date.now();
    const hosts = Array.from({ length: opts.incidents }, (_, i) => `ws-${env.tag}-mem-${i}`);
    const receipts = await pool(hosts, 50, async (host) => {
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
      opened++;
      return r;
    });
    const deadline = Date.now() + 300_000;
    while (notices() < opts.incidents && Date.now() < deadline) await sleep(200);
    const openSeconds = (Date.now() - started) / 1000;
    progress.stop();
    await sleep(3_000);
    const after = await steadyRss(pid);
    const { hwm } = await procStatus(pid);
    const cpuAfter = await cpuSnapshot([...(await env.serverPids()), pid]);
    // Every incident really is open and waiting on its approval (read after the memory figures: queries are
    // answered by this worker).
    let waiting = 0;
    await pool(receipts, 20, async (r) => {
      const s = await service.getState(r.incidentId);
      if (
        s.status === 'open' &&
        s.approvals.filter((a) => a.state === 'pending').length === 1 &&
        s.actions.some((a) => a.kind === 'isolate_host' && a.state === 'pending_approval')
      )
        waiting++;
    });
    return {
      incidents: opts.incidents,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      perIncidentBytes: (after - before) / opts.incidents,
      peakBytes: hwm,
      waitingOnApproval: waiting,
      openSeconds,
      ...load(cpuBefore, cpuAfter, env),
    };
  } finally {
    await stopWorker(worker.child);
    process.off('exit', killOnExit);
  }
}

async function spawnFloorWorker(
  env: BenchEnv,
  taskQueue: string,
): Promise<{ child: ChildProcess; notified: () => number; output: () => string }> {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', path.join(BENCH_DIR, 'floor', 'worker.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      FLOOR_TEMPORAL_ADDRESS: env.quell.temporal.address,
      FLOOR_TEMPORAL_NAMESPACE: env.quell.temporal.namespace,
      FLOOR_TASK_QUEUE: taskQueue,
      FLOOR_WORKFLOW_BUNDLE: env.floorBundle.path,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  let running = false;
  let notified = 0;
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  child.on('message', (m: { running?: boolean; notified?: number }) => {
    if (m.running) running = true;
    if (typeof m.notified === 'number') notified = m.notified;
  });
  const deadline = Date.now() + 120_000;
  while (!running && child.exitCode === null && Date.now() < deadline) await sleep(100);
  if (!running) {
    child.kill('SIGKILL');
    throw new Error(`the floor's memory worker did not start:\n${output}`);
  }
  return { child, notified: () => notified, output: () => output };
}

async function runFloorMemory(env: BenchEnv, opts: { workflows: number }): Promise<FloorMemoryFigures> {
  const taskQueue = `bench-memory-floor-${env.tag}`;
  const worker = await spawnFloorWorker(env, taskQueue);
  const pid = worker.child.pid!;
  const killOnExit = () => worker.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await sleep(3_000);
    const cpuBefore = await cpuSnapshot([...(await env.serverPids()), pid]);
    const before = await steadyRss(pid);
    say(
      `  memory floor: bare worker pid ${pid} idle at ${(before / 1048576).toFixed(1)} MiB; ` +
        `starting ${opts.workflows} floor workflows`,
    );
    let opened = 0;
    const progress = ticker(
      'memory floor',
      () => `${opened}/${opts.workflows} started, ${worker.notified()} notices sent`,
    );
    const started = Date.now();
    const hosts = Array.from({ length: opts.workflows }, (_, i) => `ws-${env.tag}-memfloor-${i}`);
    const workflowId = (host: string) => `bench-floor-waiting-${host}`;
    await pool(hosts, 50, async (host) => {
      await env.client.workflow.executeUpdateWithStart(floorAlertUpdate, {
        args: [{ alertId: `${host}-alert-1`, host }],
        startWorkflowOperation: new WithStartWorkflowOperation<typeof floorAwaitingDecision>(
          FLOOR_AWAITING_DECISION_WORKFLOW_TYPE,
          { workflowId: workflowId(host), taskQueue, args: [host], workflowIdConflictPolicy: 'USE_EXISTING' },
        ),
      });
      opened++;
    });
    const deadline = Date.now() + 300_000;
    while (worker.notified() < opts.workflows && Date.now() < deadline) await sleep(200);
    const openSeconds = (Date.now() - started) / 1000;
    progress.stop();
    await sleep(3_000);
    const after = await steadyRss(pid);
    const { hwm } = await procStatus(pid);
    const cpuAfter = await cpuSnapshot([...(await env.serverPids()), pid]);
    let waiting = 0;
    await pool(hosts, 20, async (host) => {
      const s = await env.client.workflow.getHandle(workflowId(host)).query(floorWaitingQuery);
      if (s.notified && s.waiting) waiting++;
    });
    return {
      workflows: opts.workflows,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      perWorkflowBytes: (after - before) / opts.workflows,
      peakBytes: hwm,
      waitingOnUpdate: waiting,
      openSeconds,
      ...load(cpuBefore, cpuAfter, env),
    };
  } finally {
    await stopWorker(worker.child);
    process.off('exit', killOnExit);
  }
}
