/**
 * Replaying across child processes (child.ts): the workflow VM of a replay runs on its process's main thread,
 * so one process replays on about one core however many replay workers it holds.
 *
 * Each process gets the bundle once, then histories a few at a time as it reports results (a slow one does not
 * hold up the others). Results are recorded in the order the items came in, so progress, `onResult` and the
 * failures read the same as with one in-process worker. A process that dies fails the histories it held (their
 * result is unknown) and is replaced while histories remain; the replay is refused only when no process starts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { HistoryJson } from '../history-json';
import { explain } from './explain';
import { invalidHistory, outcomeOf, strip, undecryptable } from './outcome';
import type { FromChild, ToChild } from './protocol';
import type { ReplayedItem, ReplayTally } from './tally';
import type { ReplayFailure, ReplayItem } from './types';

/** Histories sent ahead to each process: the next one is already there when a replay finishes. */
const WINDOW = 2;
const STDERR_TAIL_CHARS = 2_000;
/** How long a process may take to shut its replay worker down once told to stop. */
const STOP_GRACE_MS = 5_000;

/** Thrown when no replay process could start (or none is left to replay the remaining histories). */
export class ReplayProcessStartError extends Error {
  override readonly name = 'ReplayProcessStartError';
}

export interface ProcessReplayOptions {
  jobs: number;
  workflowBundle: WorkflowBundleOption;
  replayName: string;
  /** The environment the processes run with: they build their data converter from it. */
  env: NodeJS.ProcessEnv;
  /** Checks payloads against the keys before a history is sent. */
  codec: PayloadCodec | undefined;
  /** Quiet Temporal runtime in the processes (and their stderr kept back). */
  quiet: boolean;
  tally: ReplayTally;
}

interface Held {
  item: ReplayedItem;
  history: HistoryJson;
}

interface ReplayProcess {
  child: ChildProcess;
  ready: boolean;
  exited: boolean;
  stopping: boolean;
  /** Results it reported: a process that made progress is worth replacing when it dies. */
  reported: number;
  held: Map<number, Held>;
  stderr: string;
  fatal?: string;
  exit: Promise<void>;
}

/** The module a replay process runs: child.ts through tsx from source (as bin/quell.js does), child.js in dist. */
function childEntry(): { modulePath: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  const modulePath = path.join(__dirname, `child${ext}`);
  return ext === '.ts'
    ? { modulePath, execArgv: ['--require', require.resolve('tsx/cjs')] }
    : { modulePath, execArgv: [] };
}

/** Records results in the order their items came in, holding back those that finish early. */
class InOrder {
  private readonly waiting = new Map<number, [ReplayedItem, ReplayFailure | undefined]>();
  private nextToRecord = 0;
  private issued = 0;

  constructor(private readonly tally: ReplayTally) {}

  next(): number {
    return this.issued++;
  }

  settle(seq: number, item: ReplayedItem, failure: ReplayFailure | undefined): void {
    this.waiting.set(seq, [item, failure]);
    for (
      let ready = this.waiting.get(this.nextToRecord);
      ready;
      ready = this.waiting.get(this.nextToRecord)
    ) {
      this.waiting.delete(this.nextToRecord++);
      this.tally.record(...ready);
    }
  }
}

/** Replays every item across `jobs` processes, recording each result in the tally. */
export async function replayInProcesses(
  items: AsyncIterable<ReplayItem> | Iterable<ReplayItem>,
  opts: ProcessReplayOptions,
): Promise<void> {
  const entry = childEntry();
  const order = new InOrder(opts.tally);
  const processes: ReplayProcess[] = [];
  let sourceDone = false;
  let firstStartFailure: string | undefined;
  let wakeUp: (() => void) | undefined;
  const wake = () => {
    const w = wakeUp;
    wakeUp = undefined;
    w?.();
  };
  const changed = () => new Promise<void>((resolve) => (wakeUp = resolve));

  const reasonOf = (p: ReplayProcess, code: number | null, signal: NodeJS.Signals | null): string => {
    const how = p.fatal ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
    const tail = p.stderr.trim();
    return tail ? `${how}; its stderr ended: ${tail}` : how;
  };

  const onExit = (p: ReplayProcess, code: number | null, signal: NodeJS.Signals | null): void => {
    if (p.exited) return;
    p.exited = true;
    if (p.stopping) return;
    const reason = reasonOf(p, code, signal);
    const lost = p.held.size;
    for (const [seq, held] of p.held) {
      opts.tally.fed(held.history);
      const message = `replay process ${p.child.pid} stopped (${reason}) before reporting this history`;
      order.settle(seq, held.item, explain(held.item, held.history, 'replay-error', message));
    }
    p.held.clear();
    if (!p.ready) firstStartFailure ??= reason;
    // Only a process that started and had taken a history is replaced: every replacement is paid for by at
    // least one history, so a history that kills every process cannot keep them dying forever.
    else if (!sourceDone && (p.reported > 0 || lost > 0)) spawn();
    wake();
  };

  const onMessage = (p: ReplayProcess, message: FromChild): void => {
    if (message.type === 'ready') p.ready = true;
    else if (message.type === 'fatal') p.fatal = message.message;
    else {
      const held = p.held.get(message.seq);
      if (!held) return;
      p.held.delete(message.seq);
      p.reported++;
      if (message.invalid !== undefined) {
        order.settle(message.seq, held.item, invalidHistory(held.item, held.history, message.invalid));
      } else {
        // Counted once the worker had it, as in this process (an invalid history never reaches it).
        opts.tally.fed(held.history);
        order.settle(message.seq, ...outcomeOf(held.item, held.history, message));
      }
    }
    wake();
  };

  const send = (p: ReplayProcess, message: ToChild): void => {
    // A send to a process that died meanwhile fails; its exit handler accounts for what it held.
    p.child.send(message, () => undefined);
  };

  function spawn(): void {
    const child = fork(entry.modulePath, [], {
      execArgv: entry.execArgv,
      env: opts.env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let exited!: () => void;
    const p: ReplayProcess = {
      child,
      ready: false,
      exited: false,
      stopping: false,
      reported: 0,
      held: new Map(),
      stderr: '',
      exit: new Promise<void>((resolve) => (exited = resolve)),
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      p.stderr = (p.stderr + chunk).slice(-STDERR_TAIL_CHARS);
      if (!opts.quiet) process.stderr.write(chunk);
    });
    child.on('message', (message: FromChild) => onMessage(p, message));
    child.once('exit', (code, signal) => {
      onExit(p, code, signal);
      exited();
    });
    child.on('error', (err) => {
      // A process that could not be spawned at all emits no 'exit'.
      if (child.pid === undefined) {
        p.stderr += err.message;
        onExit(p, null, null);
        exited();
      }
    });
    processes.push(p);
    send(p, {
      type: 'start',
      workflowBundle: opts.workflowBundle,
      replayName: opts.replayName,
      quiet: opts.quiet,
    });
  }

  const killAll = () => {
    for (const p of processes) if (!p.exited) p.child.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    // Nobody else handles it: end this process as the signal would have.
    if (process.listenerCount(signal) === 1) {
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    }
  };
  process.on('exit', killAll);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  /** A started process with room for another history; undefined when none is left. */
  const withRoom = async (): Promise<ReplayProcess | undefined> => {
    for (;;) {
      const live = processes.filter((p) => !p.exited);
      if (!live.length) return undefined;
      const room = live
        .filter((p) => p.ready && p.held.size < WINDOW)
        .sort((a, b) => a.held.size - b.held.size)[0];
      if (room) return room;
      await changed();
    }
  };

  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  try {
    for (let i = 0; i < opts.jobs; i++) spawn();
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const item = next.value;
      const seq = order.next();
      const meta = strip(item);
      const failure = undecryptable(item, meta, opts.codec);
      if (failure) {
        order.settle(seq, meta, failure);
        continue;
      }
      const p = await withRoom();
      if (!p) throw noProcessLeft(firstStartFailure);
      p.held.set(seq, { item: meta, history: item.history });
      send(p, { type: 'replay', seq, workflowId: item.workflowId, history: item.history });
    }
    sourceDone = true;
    while (processes.some((p) => !p.exited && p.held.size)) await changed();
    if (!processes.some((p) => p.ready) && firstStartFailure !== undefined) {
      throw noProcessLeft(firstStartFailure);
    }
    await Promise.all(processes.filter((p) => !p.exited).map((p) => stop(p)));
  } catch (err) {
    await (iterator as AsyncIterator<ReplayItem>).return?.();
    throw err;
  } finally {
    sourceDone = true;
    killAll();
    process.removeListener('exit', killAll);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  async function stop(p: ReplayProcess): Promise<void> {
    p.stopping = true;
    send(p, { type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        p.child.kill('SIGKILL');
        resolve();
      }, STOP_GRACE_MS);
    });
    await Promise.race([p.exit, late]);
    clearTimeout(timer);
  }
}

function noProcessLeft(reason: string | undefined): ReplayProcessStartError {
  return new ReplayProcessStartError(
    `no replay process could start${reason ? ` (the first one stopped: ${reason})` : ''}`,
  );
}
