/**
 * A small progress bar on stderr. On a TTY it redraws one line (`\r`) at most ~10 times a second; elsewhere
 * (CI logs, pipes) it prints a plain line every 10% (and at the end), so logs stay readable.
 */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** What is counted, e.g. "histories". */
  label: string;
  /** Total, when known up front; otherwise only the count and rate are shown. */
  total?: number;
  stream?: ProgressStream;
  /** Force TTY (true) or plain (false) rendering; default: the stream's `isTTY`. */
  tty?: boolean;
  /** Nothing at all (e.g. --quiet or JSON output on stderr). */
  silent?: boolean;
  now?: () => number;
}

export class ProgressBar {
  private done = 0;
  private failed = 0;
  private readonly started: number;
  private lastDraw = 0;
  private lastPlainDecile = -1;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.now = opts.now ?? Date.now;
    this.started = this.now();
  }

  set total(total: number | undefined) {
    this.opts.total = total;
  }

  /** Counts one item (failed or not) and redraws when due. */
  tick(failed = false, note?: string): void {
    this.done++;
    if (failed) this.failed++;
    this.render(false, note);
  }

  /** Prints a line above the bar (e.g. a failure) without garbling it. */
  log(line: string): void {
    if (this.opts.silent) return;
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(line.endsWith('\n') ? line : `${line}\n`);
    if (this.tty && this.drawn) this.render(true);
  }

  /** Final redraw and newline. */
  finish(): void {
    this.render(true);
    if (this.tty && this.drawn && !this.opts.silent) this.stream.write('\n');
    this.drawn = false;
  }

  /** Items per second so far. */
  rate(): number {
    const secs = Math.max(1e-3, (this.now() - this.started) / 1000);
    return this.done / secs;
  }

  line(): string {
    const total = this.opts.total;
    const rate = this.rate();
    const stats = `${this.done}${total !== undefined ? `/${total}` : ''} ${this.opts.label}, ${this.failed} failed, ${rate.toFixed(1)}/s`;
    if (total === undefined || total === 0) return stats;
    const fraction = Math.min(1, this.done / total);
    const remaining = rate > 0 ? (total - this.done) / rate : 0;
    const eta = this.done < total && rate > 0 ? `, ETA ${formatSeconds(remaining)}` : '';
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - stats.length - eta.length - 12));
    const filled = Math.round(fraction * width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    return `${bar} ${String(Math.round(fraction * 100)).padStart(3)}% ${stats}${eta}`;
  }

  private render(force: boolean, note?: string): void {
    if (this.opts.silent) return;
    const t = this.now();
    if (this.tty) {
      if (!force && t - this.lastDraw < 100 && this.done !== this.opts.total) return;
      this.lastDraw = t;
      const text = this.line() + (note ? `  ${note}` : '');
      const max = (this.stream.columns ?? 120) - 1;
      this.stream.write(`\r\x1b[2K${text.length > max ? text.slice(0, max) : text}`);
      this.drawn = true;
      return;
    }
    const total = this.opts.total;
    const decile = total ? Math.floor((this.done / total) * 10) : Math.floor(this.done / 100);
    if (force ? this.done > 0 && decile !== this.lastPlainDecile : decile > this.lastPlainDecile) {
      this.lastPlainDecile = decile;
      this.stream.write(`${this.line()}\n`);
    }
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${(s / 3600).toFixed(1)}h`;
}
