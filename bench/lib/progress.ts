/** Progress lines on stderr while a benchmark runs (figures go to stdout). */

const started = Date.now();

function stamp(): string {
  return `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`;
}

export function say(message: string): void {
  process.stderr.write(`${stamp()} ${message}\n`);
}

/**
 * Prints `label: <status>` every `everyMs` while work runs, only when the status changed, and once more when
 * stopped. `status` is called on each tick.
 */
export function ticker(label: string, status: () => string, everyMs = 2_000): { stop(): void } {
  let last = '';
  const tick = () => {
    const s = status();
    if (s !== last) {
      last = s;
      say(`  ${label}: ${s}`);
    }
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      tick();
    },
  };
}
