/**
 * Starts the lab estate in a child process (lab-child.ts) and turns its reports into this process's probes:
 * a containment's moment, sent as a wall-clock instant with sub-millisecond resolution, is mapped back to
 * this process's `performance.now()` clock, the one every other mark of the bench uses.
 */
import { fork } from 'node:child_process';
import path from 'node:path';

export type LabChildMessage =
  | { type: 'ready'; url: string; pid: number }
  | { type: 'contained'; host: string; at: number }
  | { type: 'message'; channel: string };

export interface LabProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startLabProcess(handlers: {
  contained(host: string, at: number): void;
  message(channel: string): void;
}): Promise<LabProcess> {
  // Under tsx, execArgv carries its loader, so the child runs the TypeScript source as this process does.
  const child = fork(path.join(__dirname, 'lab-child.ts'), [], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`the lab process exited (code ${code}) before it was ready`)),
    );
    child.on('message', (m: LabChildMessage) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'contained') handlers.contained(m.host, m.at - performance.timeOrigin);
      else handlers.message(m.channel);
    });
  });
  return {
    ...ready,
    stop: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
