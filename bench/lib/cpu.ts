/**
 * Where the CPU goes during a run (Linux /proc): this process's threads by role (main event loop: API,
 * activities, lab, bench client; the SDK's workflow threads, which run the workflow code in a V8 context; the
 * SDK core's Rust threads (tokio, temporal-*, workflow-processing); other Node threads: GC, compiler, libuv), the Temporal dev server process, and everything else on the machine (other
 * users' processes share these cores too).
 */
import { promises as fs } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux

export interface CpuSnapshot {
  at: number;
  threads: Map<string, { comm: string; ticks: number }>;
  selfTicks: number;
  /** Per server process (the Temporal server; with PostgreSQL also every postgres process of its cluster). */
  serverTicks: Map<number, number>;
  /** The lab estate's process (its own, so Quell's figures leave out the vendors' side of each call). */
  labTicks: number;
  systemBusy: number;
  systemTotal: number;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
}

export interface CpuBreakdown {
  /** Milliseconds of CPU in each place during the run. */
  mainThreadMs: number;
  workflowThreadsMs: number;
  sdkCoreMs: number;
  otherThreadsMs: number;
  temporalServerMs: number;
  /** The lab estate answering Quell's vendor calls (not Quell's cost, so in no total). */
  labMs: number;
  otherProcessesMs: number;
  wallMs: number;
  /** Event-loop utilization of this process's main thread (0..1). */
  mainThreadElu: number;
  /** Share of all cores busy, whoever used them (0..1). */
  machineBusy: number;
}

function ticksOfStat(stat: string): number {
  // Fields after the parenthesised command name: state is field 3; utime 14, stime 15 (1-based).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

async function readTicks(path: string): Promise<number> {
  try {
    return ticksOfStat(await fs.readFile(path, 'utf8'));
  } catch {
    return 0;
  }
}

/**
 * The processes of a Temporal Server on PostgreSQL: `temporal-server` run with `--root <serverDir>`, the
 * postmaster of `dataDir` and its children (the backends serving Temporal's connections).
 */
export async function findPostgresTemporalPids(serverDir: string, dataDir: string): Promise<number[]> {
  const pids: number[] = [];
  let postmaster: number | undefined;
  const parents = new Map<number, number>();
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const argv = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(pid, ppid);
    if (argv[0]?.endsWith('temporal-server') && argv[argv.indexOf('--root') + 1] === serverDir)
      pids.push(pid);
    if (argv[0]?.endsWith('postgres') && argv[argv.indexOf('-D') + 1] === dataDir) postmaster = pid;
  }
  if (postmaster !== undefined) {
    pids.push(postmaster);
    for (const [pid, ppid] of parents) if (ppid === postmaster) pids.push(pid);
  }
  return pids;
}

/** The PID of the `temporal server start-dev` listening on `port` (not its guardian). */
export async function findTemporalServerPid(port: string): Promise<number | undefined> {
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!argv[0]?.endsWith('temporal')) continue;
    const i = argv.indexOf('--port');
    if (argv.includes('start-dev') && i >= 0 && argv[i + 1] === port) return Number(entry);
  }
  return undefined;
}

export async function cpuSnapshot(serverPids: readonly number[], labPid?: number): Promise<CpuSnapshot> {
  const threads = new Map<string, { comm: string; ticks: number }>();
  for (const tid of await fs.readdir('/proc/self/task').catch(() => [] as string[])) {
    const [comm, stat] = await Promise.all([
      fs.readFile(`/proc/self/task/${tid}/comm`, 'utf8').catch(() => ''),
      fs.readFile(`/proc/self/task/${tid}/stat`, 'utf8').catch(() => ''),
    ]);
    if (stat) threads.set(tid, { comm: comm.trim(), ticks: ticksOfStat(stat) });
  }
  const cpuLine = (await fs.readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
  const v = cpuLine.split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return {
    at: performance.now(),
    threads,
    selfTicks: await readTicks('/proc/self/stat'),
    serverTicks: new Map(
      await Promise.all(serverPids.map(async (pid) => [pid, await readTicks(`/proc/${pid}/stat`)] as const)),
    ),
    labTicks: labPid === undefined ? 0 : await readTicks(`/proc/${labPid}/stat`),
    systemBusy: total - idle,
    systemTotal: total,
    elu: performance.eventLoopUtilization(),
  };
}

/** This process's threads: thread ID -> name. */
export async function threadNames(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const tid of await fs.readdir('/proc/self/task').catch(() => [] as string[])) {
    out.set(tid, (await fs.readFile(`/proc/self/task/${tid}/comm`, 'utf8').catch(() => '')).trim());
  }
  return out;
}

/**
 * `workflowTids`: the Node worker threads the SDK started for workflow code (one per Worker with the default
 * reuseV8Context), told apart from GC and libuv threads (all named "node") by being started with the workers.
 */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, workflowTids: ReadonlySet<string>): CpuBreakdown {
  const ms = (ticks: number) => (ticks * 1000) / CLK_TCK;
  const byRole = { main: 0, workflow: 0, core: 0, other: 0 };
  const mainTid = String(process.pid);
  for (const [tid, t] of b.threads) {
    const delta = t.ticks - (a.threads.get(tid)?.ticks ?? 0);
    if (tid === mainTid) byRole.main += delta;
    else if (workflowTids.has(tid)) byRole.workflow += delta;
    else if (
      t.comm.startsWith('tokio-runtime') ||
      t.comm.startsWith('temporal-') ||
      t.comm.startsWith('workflow-proc')
    )
      byRole.core += delta;
    else byRole.other += delta;
  }
  const self = b.selfTicks - a.selfTicks;
  // A process that started during the run counts from zero; one that ended is lost (Temporal keeps its
  // database connections, so that is rare).
  let server = 0;
  for (const [pid, ticks] of b.serverTicks) server += ticks - (a.serverTicks.get(pid) ?? 0);
  const busy = b.systemBusy - a.systemBusy;
  const lab = b.labTicks - a.labTicks;
  return {
    mainThreadMs: ms(byRole.main),
    workflowThreadsMs: ms(byRole.workflow),
    sdkCoreMs: ms(byRole.core),
    // Threads that ended during the run are in the process total but in no thread's delta.
    otherThreadsMs: ms(Math.max(byRole.other, self - byRole.main - byRole.workflow - byRole.core)),
    temporalServerMs: ms(server),
    labMs: ms(lab),
    otherProcessesMs: ms(Math.max(0, busy - self - server - lab)),
    wallMs: b.at - a.at,
    mainThreadElu: performance.eventLoopUtilization(b.elu, a.elu).utilization,
    machineBusy: b.systemTotal > a.systemTotal ? busy / (b.systemTotal - a.systemTotal) : 0,
  };
}
