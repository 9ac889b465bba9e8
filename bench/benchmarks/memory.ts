/**
 * Worker memory: a Quell worker in a SEPARATE process (`node bin/quell.js worker`, as run from a checkout, so
 * through tsx) on its own task queue, its resident set size read from /proc/<pid>/status (VmRSS) when idle
 * and again with N open incidents each waiting on an approval (bench-approval playbook: isolation needs an
 * approver; the identification notice is sent, then the incident waits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import type { BenchEnv } from '../lib/env';
import { PLAYBOOKS_DIR, ROOT } from '../lib/env';
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
  const taskQueue = `bench-memory-${env.tag}`;
  const worker = await spawnWorker(env, taskQueue);
  const pid = worker.child.pid!;
  // If the bench dies, the worker must not outlive it.
  const killOnExit = () => worker.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await sleep(3_000);
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
    };
  } finally {
    await stopWorker(worker.child);
    process.off('exit', killOnExit);
  }
}
