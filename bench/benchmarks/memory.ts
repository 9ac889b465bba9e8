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

/** What one worker's memory run measured: RSS idle and with N waiting, and how many really wait. */
interface WaitingRss {
  before: number;
  after: number;
  hwm: number;
  waiting: number;
  openSeconds: number;
  cpuBefore: CpuSnapshot;
  cpuAfter: CpuSnapshot;
}

/**
 * The measuring both workers share: settle, read RSS idle, open `n` workflows (50 at a time) and wait until
 * `ready()` counts all of them parked (at most 5 minutes), settle, read RSS again, then count with `verify`
 * how many really wait (after the readings: queries are answered by the measured worker). The worker is
 * stopped at the end, and SIGKILLed if the bench dies first.
 */
async function measureWaitingRss<T>(
  env: BenchEnv,
  child: ChildProcess,
  run: {
    label: string;
    n: number;
    open(i: number): Promise<T>;
    ready(): number;
    progress(opened: number): string;
    verify(opened: T[]): Promise<number>;
  },
): Promise<WaitingRss> {
  const pid = child.pid!;
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await sleep(3_000);
    const cpuBefore = await cpuSnapshot([...(await env.serverPids()), pid]);
    const before = await steadyRss(pid);
    say(`  ${run.label}: worker pid ${pid} idle at ${(before / 1048576).toFixed(1)} MiB; opening ${run.n}`);
    let opened = 0;
    const progress = ticker(run.label, () => run.progress(opened));
    const started = Date.now();
    const results = await pool(
      Array.from({ length: run.n }, (_, i) => i),
      50,
      async (i) => {
        const r = await run.open(i);
        opened++;
        return r;
      },
    );
    const deadline = Date.now() + 300_000;
    while (run.ready() < run.n && Date.now() < deadline) await sleep(200);
    const openSeconds = (Date.now() - started) / 1000;
    progress.stop();
    await sleep(3_000);
    const after = await steadyRss(pid);
    const { hwm } = await procStatus(pid);
    const cpuAfter = await cpuSnapshot([...(await env.serverPids()), pid]);
    const waiting = await run.verify(results);
    return { before, after, hwm, waiting, openSeconds, cpuBefore, cpuAfter };
  } finally {
    await stopWorker(child);
    process.off('exit', killOnExit);
  }
}

async function runQuellMemory(env: BenchEnv, opts: { incidents: number }): Promise<MemoryFigures> {
  const taskQueue = `bench-memory-${env.tag}`;
  const worker = await spawnWorker(env, taskQueue);
  const service = new IncidentService(env.client, taskQueue, env.playbooks);
  const noticesBefore = env.probes.messages.get('responders') ?? 0;
  const notices = () => (env.probes.messages.get('responders') ?? 0) - noticesBefore;
  const m = await measureWaitingRss(env, worker.child, {
    label: 'memory',
    n: opts.incidents,
    open: (i) => {
      const host = `ws-${env.tag}-mem-${i}`;
      return service.ingestAlert(
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
    },
    ready: notices,
    progress: (opened) => `${opened}/${opts.incidents} opened, ${notices()} notices sent`,
    // Every incident really is open and waiting on its approval.
    verify: async (receipts) => {
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
      return waiting;
    },
  });
  return {
    incidents: opts.incidents,
    rssBeforeBytes: m.before,
    rssAfterBytes: m.after,
    perIncidentBytes: (m.after - m.before) / opts.incidents,
    peakBytes: m.hwm,
    waitingOnApproval: m.waiting,
    openSeconds: m.openSeconds,
    ...load(m.cpuBefore, m.cpuAfter, env),
  };
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
  const workflowId = (i: number) => `bench-floor-waiting-ws-${env.tag}-memfloor-${i}`;
  const m = await measureWaitingRss(env, worker.child, {
    label: 'memory floor',
    n: opts.workflows,
    open: async (i) => {
      const host = `ws-${env.tag}-memfloor-${i}`;
      await env.client.workflow.executeUpdateWithStart(floorAlertUpdate, {
        args: [{ alertId: `${host}-alert-1`, host }],
        startWorkflowOperation: new WithStartWorkflowOperation<typeof floorAwaitingDecision>(
          FLOOR_AWAITING_DECISION_WORKFLOW_TYPE,
          { workflowId: workflowId(i), taskQueue, args: [host], workflowIdConflictPolicy: 'USE_EXISTING' },
        ),
      });
      return i;
    },
    ready: worker.notified,
    progress: (opened) => `${opened}/${opts.workflows} started, ${worker.notified()} notices sent`,
    verify: async (opened) => {
      let waiting = 0;
      await pool(opened, 20, async (i) => {
        const s = await env.client.workflow.getHandle(workflowId(i)).query(floorWaitingQuery);
        if (s.notified && s.waiting) waiting++;
      });
      return waiting;
    },
  });
  return {
    workflows: opts.workflows,
    rssBeforeBytes: m.before,
    rssAfterBytes: m.after,
    perWorkflowBytes: (m.after - m.before) / opts.workflows,
    peakBytes: m.hwm,
    waitingOnUpdate: m.waiting,
    openSeconds: m.openSeconds,
    ...load(m.cpuBefore, m.cpuAfter, env),
  };
}
