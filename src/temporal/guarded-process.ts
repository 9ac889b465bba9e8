/**
 * A server process (Temporal Server, PostgreSQL) run under the guardian (dev-server-guardian.cjs), which stops
 * it when the process that asked for it dies, however it dies. Output goes to a log file; the guardian runs in
 * its own process group, so a terminal's Ctrl-C reaches the owner first, which then stops the server in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';

export interface GuardedProcess {
  /** The guardian (its child is the server). */
  child: ChildProcess;
  /** Resolves when the guardian has exited (it exits when the server does). */
  exited: Promise<void>;
  /** Asks the server to stop (via the guardian), and SIGKILLs the guardian after `killAfterMs`. */
  stop(killAfterMs: number): Promise<void>;
}

export function spawnGuarded(opts: {
  binary: string;
  args: string[];
  logFile: string;
  /** Whose death stops the server (default: this process). */
  ownerPid?: number;
  cwd?: string;
  /** The signal that stops the server cleanly (default SIGTERM; PostgreSQL's fast shutdown is SIGINT). */
  stopSignal?: NodeJS.Signals;
}): GuardedProcess {
  const logFd = openSync(opts.logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      path.join(__dirname, 'dev-server-guardian.cjs'),
      String(opts.ownerPid ?? process.pid),
      opts.binary,
      ...opts.args,
    ],
    {
      stdio: ['ignore', logFd, logFd],
      detached: true,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.stopSignal ? { env: { ...process.env, QUELL_GUARDIAN_STOP_SIGNAL: opts.stopSignal } } : {}),
    },
  );
  closeSync(logFd);
  child.unref();
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    exited,
    stop: async (killAfterMs) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
