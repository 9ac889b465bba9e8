/**
 * A replay process: forked by `replayHistories` (pool.ts) with `jobs` > 1. It receives the workflow bundle
 * once, then histories over IPC, replays them through one `Worker.runReplayHistories` and sends back each
 * result. Its data converter is rebuilt from the environment it inherited (QUELL_ENCRYPTION_KEY), so no key
 * crosses the IPC channel.
 */
import { Worker } from '@temporalio/worker';
import { dataConverterFromEnv } from '../../temporal/codec';
import { historyFromJson, type History } from '../history-json';
import type { FromChild, ReplayMessage, StartMessage, ToChild } from './protocol';
import { installQuietRuntime } from './runtime';

if (!process.send) {
  process.stderr.write('this is a replay process: replayHistories forks it (it reads histories over IPC)\n');
  process.exit(2);
}

const send = (message: FromChild): void => {
  process.send?.(message);
};

/** Histories received and not yet handed to the worker; `undefined` marks the end (`stop`). */
const queue: (ReplayMessage | undefined)[] = [];
let wake: (() => void) | undefined;
let started: ((start: StartMessage) => void) | undefined;
const start = new Promise<StartMessage>((resolve) => (started = resolve));

process.on('message', (message: ToChild) => {
  if (message.type === 'start') started?.(message);
  else {
    queue.push(message.type === 'replay' ? message : undefined);
    wake?.();
  }
});
// The parent is gone (it exited, or was killed): nobody reads the results.
process.on('disconnect', () => process.exit(0));

async function next(): Promise<ReplayMessage | undefined> {
  while (!queue.length) await new Promise<void>((resolve) => (wake = resolve));
  return queue.shift();
}

/** The sequence numbers of the histories handed to the worker, in order: its results come in that order. */
const replaying: number[] = [];
let asked = false;

async function* feed(): AsyncGenerator<{ workflowId: string; history: History }> {
  if (!asked) {
    asked = true;
    send({ type: 'ready' });
  }
  for (;;) {
    const message = await next();
    if (!message) return;
    let history: History;
    try {
      history = historyFromJson(message.history);
    } catch (err) {
      send({ type: 'result', seq: message.seq, invalid: (err as Error).message });
      continue;
    }
    replaying.push(message.seq);
    yield { workflowId: message.workflowId, history };
  }
}

async function main(): Promise<void> {
  const { workflowBundle, replayName, quiet } = await start;
  if (quiet) installQuietRuntime();
  const dataConverter = dataConverterFromEnv(process.env);
  const options = { workflowBundle, replayName, ...(dataConverter ? { dataConverter } : {}) };
  for await (const result of Worker.runReplayHistories(options, feed())) {
    const seq = replaying.shift();
    if (seq === undefined) continue;
    send({
      type: 'result',
      seq,
      runId: result.runId,
      ...(result.error ? { error: { name: result.error.name, message: result.error.message } } : {}),
    });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const message: FromChild = { type: 'fatal', message: err instanceof Error ? err.message : String(err) };
    // Exit once the message is on its way (process.exit would drop it).
    process.send?.(message, undefined, undefined, () => process.exit(1));
  },
);
