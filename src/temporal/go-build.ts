/**
 * Building Temporal's Go binaries (the CLI, the server and its SQL schema tool) from the Go module proxy into
 * the project cache: pure Go (no cgo), with progress while the first build downloads modules, and a lock so two
 * Quell processes never build into the same directory at once.
 */
import { spawn } from 'node:child_process';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { UserFixableError } from '../errors';

export type ProgressReporter = (message: string) => void;

/** Thrown when `go` is missing or `go install` fails; the message carries the build's last output. */
export class GoBuildError extends UserFixableError {
  override readonly name = 'GoBuildError';
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Holds a directory lock in `cacheDir` while `fn` runs; a lock whose holder died is taken over. */
export async function withBuildLock<T>(
  cacheDir: string,
  what: string,
  report: ProgressReporter,
  fn: () => Promise<T>,
): Promise<T> {
  const lockDir = path.join(cacheDir, '.build.lock');
  const started = Date.now();
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      await fs.writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => '0'));
      let alive = false;
      try {
        if (holder > 0) {
          process.kill(holder, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (!alive && Date.now() - started > 2_000) {
        await fs.rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > 30 * 60_000) {
        throw new GoBuildError(`Timed out waiting for the build lock ${lockDir}; remove it if stale.`);
      }
      report(`Another process (pid ${holder}) is building ${what}; waiting for it...`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * `go install <pkg>@<version>` into `binDir` (CGO off), reporting progress every 15 s.
 * Thrown: {@link GoBuildError} when Go is missing or the build fails.
 */
export async function goInstall(opts: {
  pkg: string;
  version: string;
  binDir: string;
  /** What is built, for progress lines ("the Temporal server"). */
  what: string;
  report: ProgressReporter;
}): Promise<void> {
  const go = await findOnPath('go');
  if (!go) throw new GoBuildError(`Go is not installed, so ${opts.what} cannot be built.`);
  await fs.mkdir(opts.binDir, { recursive: true });
  const started = Date.now();
  const child = spawn(go, ['install', `${opts.pkg}@${opts.version}`], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: opts.binDir, GOFLAGS: process.env.GOFLAGS ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  let downloads = 0;
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      if (line.startsWith('go: downloading')) downloads += 1;
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const ticker = setInterval(() => {
    opts.report(
      `  still building ${opts.what}: ${formatElapsed(Date.now() - started)} elapsed, ` +
        `${downloads} modules downloaded so far`,
    );
  }, 15_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  }).finally(() => clearInterval(ticker));
  if (code !== 0) {
    throw new GoBuildError(
      `\`go install ${opts.pkg}@${opts.version}\` failed (exit ${code}). Last output:\n${tail.join('\n')}`,
    );
  }
  opts.report(`Built ${opts.what} in ${formatElapsed(Date.now() - started)}.`);
}

/** `go env <name>` (e.g. GOMODCACHE). */
export async function goEnv(name: string): Promise<string> {
  const go = await findOnPath('go');
  if (!go) throw new GoBuildError('Go is not installed.');
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(go, ['env', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('exit', (c) =>
      c === 0 ? resolve(text.trim()) : reject(new GoBuildError(`go env ${name} failed`)),
    );
  });
  return out;
}
