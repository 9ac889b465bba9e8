import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/temporal/dev-server';

const ROOT = path.resolve(__dirname, '..', '..');
/** A hung command fails the test with its output instead of leaving it to the jest timeout. */
const WATCHDOG_MS = 45_000;

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  hung: boolean;
}

/** The real CLI (`node bin/quell.js ...`) in its own process. `onStart` may signal it. */
function runQuell(
  args: string[],
  env: Record<string, string>,
  onStart?: (child: ReturnType<typeof spawn>) => void,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const { TEMPORAL_ADDRESS: _a, ...inherited } = process.env;
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'quell.js'), ...args], {
      cwd: ROOT,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let hung = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const watchdog = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, WATCHDOG_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, stderr, hung });
    });
    onStart?.(child);
  });
}

const INCIDENT = 'INC-3f9a0c1d2e4b5a6f-0a1b2c';

describe('CLI commands when Temporal cannot be reached', () => {
  it.each([
    [['replay', '--all']],
    [['replay', '--incident', INCIDENT]],
    [['history', 'export', INCIDENT]],
    [['audit', 'export', INCIDENT, '--out', os.tmpdir()]],
  ])(
    'quell %j exits 1 with one line naming the address and what to set',
    async (args) => {
      const port = await freePort(); // nothing listens on it
      const run = await runQuell(args, { TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
      expect(run.hung).toBe(false);
      expect(run).toMatchObject({ code: 1, signal: null });
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^quell: Temporal at 127\\.0\\.0\\.1:${port} \\(namespace default\\) is unreachable: .*TEMPORAL_ADDRESS`,
        ),
      );
    },
    60_000,
  );
});

describe('CLI commands stop on SIGTERM and SIGINT', () => {
  // Accepts connections and never answers (a firewall dropping the handshake, a wrong port): the command is
  // busy connecting when the signal arrives.
  let silent: net.Server;
  const sockets = new Set<net.Socket>();
  let connected: () => void = () => undefined;
  beforeAll(async () => {
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      connected();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it.each([
    ['SIGTERM', ['replay', '--all'], 143],
    ['SIGINT', ['history', 'export', INCIDENT], 130],
  ] as const)('%s stops quell %j at once, with exit %d', async (signal, args, code) => {
    const address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const run = await runQuell([...args], { TEMPORAL_ADDRESS: address }, (child) => {
      connected = () => child.kill(signal);
    });
    expect(run.hung).toBe(false);
    expect(run).toMatchObject({ code, signal: null });
    expect(run.stderr).toContain(`quell: ${signal} received: stopping.`);
  });
});
