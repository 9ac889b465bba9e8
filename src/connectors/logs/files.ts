import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { defineVendor, optionalString } from '../descriptor';
import { PermanentConnectorError, TargetNotFoundError, TransientConnectorError } from '../errors';
import type { LogReadRequest, LogReadResult, LogSource } from '../types';
import { assertHostname } from '../util';
import { leadingTimestamp, parseWindow } from './window';

export interface FileLogSourceOptions {
  /** Directory holding one sub-directory per host: `<root>/<host>/`. */
  root: string;
  /**
   * File name patterns inside a host's directory, `*` and `?` wildcards (no directories), e.g.
   * `['*.log', '*.log.1']`. Default `['*.log']`.
   */
  patterns?: string[];
  /** Refuse to return more than this many bytes (default 64 MiB). */
  maxBytes?: number;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

/**
 * Reads a host's log lines for a time window from files on disk: `<root>/<host>/<pattern>` (files in name
 * order). A line that starts with an ISO-8601 timestamp is kept when the time is within [from, to]
 * (inclusive; a timestamp without a zone is UTC). A line without a timestamp (a stack-trace or other
 * continuation line) follows the timestamped line before it in the same file; lines before the first
 * timestamp in a file are kept. Other timestamp formats (syslog's "Nov 28 09:14:03") are not parsed: such
 * lines count as continuation lines.
 *
 * The host name is validated (letters, digits, `.`, `_`, `-`), so it cannot walk out of the root. No host
 * directory is a {@link TargetNotFoundError}.
 */
export class FileLogSource implements LogSource {
  readonly name = 'files';
  private readonly root: string;
  private readonly patterns: RegExp[];
  private readonly patternText: string;
  private readonly maxBytes: number;

  constructor(opts: FileLogSourceOptions) {
    this.root = path.resolve(opts.root);
    const patterns = opts.patterns?.length ? opts.patterns : ['*.log'];
    for (const p of patterns) {
      if (p.includes('/') || p.includes('\\') || p === '..' || !p) {
        throw new PermanentConnectorError(`files: invalid log file pattern ${JSON.stringify(p)}`, {
          vendor: 'files',
        });
      }
    }
    this.patterns = patterns.map(globToRegExp);
    this.patternText = patterns.length === 1 ? patterns[0]! : `{${patterns.join(',')}}`;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  }

  async readHostLogs(req: LogReadRequest): Promise<LogReadResult> {
    const host = assertHostname(req.host, 'files');
    const window = parseWindow(req, 'files');
    const dir = path.join(this.root, host);
    let names: string[];
    try {
      names = (await fs.readdir(dir, { withFileTypes: true }))
        .filter((d) => d.isFile() && this.patterns.some((re) => re.test(d.name)))
        .map((d) => d.name)
        .sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new TargetNotFoundError(`files: no log directory for host ${host}`, { vendor: 'files' });
      }
      throw new TransientConnectorError(`files: cannot list logs of ${host}: ${code ?? 'error'}`, {
        vendor: 'files',
        cause: err,
      });
    }
    const kept: string[] = [];
    let bytes = 0;
    for (const name of names) {
      const stream = createReadStream(path.join(dir, name), { encoding: 'utf8' });
      const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
      let keep = true;
      try {
        for await (const line of lines) {
          const t = leadingTimestamp(line);
          if (t !== undefined) keep = t >= window.from && t <= window.to;
          if (!keep) continue;
          bytes += Buffer.byteLength(line) + 1;
          if (bytes > this.maxBytes) {
            throw new PermanentConnectorError(
              `files: logs of ${host} exceed ${this.maxBytes} bytes for the window`,
              {
                vendor: 'files',
              },
            );
          }
          kept.push(line);
        }
      } catch (err) {
        if (err instanceof PermanentConnectorError) throw err;
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new TransientConnectorError(`files: cannot read ${name} of ${host}: ${code}`, {
          vendor: 'files',
          cause: err,
        });
      } finally {
        lines.close();
        stream.destroy();
      }
    }
    const content = Buffer.from(kept.length ? `${kept.join('\n')}\n` : '', 'utf8');
    return { source: `file:${path.join(dir, this.patternText)}`, content, lineCount: kept.length };
  }
}

/** `QUELL_LOGS=files`: `<QUELL_LOGS_DIR>/<host>/<pattern>` on this host. */
export const filesLogs = defineVendor({
  env: { QUELL_LOGS_DIR: optionalString, QUELL_LOGS_PATTERNS: optionalString },
  secrets: [],
  resolve(e, ctx) {
    const root = ctx.need('QUELL_LOGS_DIR');
    const patterns = e.QUELL_LOGS_PATTERNS?.split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (patterns?.some((p) => p.includes('/') || p.includes('\\'))) {
      ctx.problem('QUELL_LOGS_PATTERNS', 'file name patterns only (no "/")');
    }
    return { root: root ? path.resolve(root) : '', ...(patterns?.length ? { patterns } : {}) };
  },
  endpoints: () => [],
  build: (s) => new FileLogSource({ root: s.root, ...(s.patterns ? { patterns: s.patterns } : {}) }),
  describe: (s) => `files under ${s.root}/<host>/${(s.patterns ?? ['*.log']).join(',')}`,
});
