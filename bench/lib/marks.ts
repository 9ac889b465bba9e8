/**
 * Moments keyed by name (a host), on the process's monotonic clock (`performance.now()`): the first time each
 * key is marked is kept, later marks are counted as repeats. A benchmark can wait for a key before or after
 * it is marked.
 */
export class Marks {
  private readonly first = new Map<string, number>();
  private readonly times = new Map<string, number>();
  private readonly waiters = new Map<string, ((t: number) => void)[]>();

  mark(key: string, at = performance.now()): void {
    const k = key.toLowerCase();
    this.times.set(k, (this.times.get(k) ?? 0) + 1);
    if (this.first.has(k)) return;
    this.first.set(k, at);
    const waiting = this.waiters.get(k);
    if (waiting) {
      this.waiters.delete(k);
      for (const resolve of waiting) resolve(at);
    }
  }

  /** When the key was first marked, or undefined. */
  get(key: string): number | undefined {
    return this.first.get(key.toLowerCase());
  }

  /** How many times the key was marked. */
  count(key: string): number {
    return this.times.get(key.toLowerCase()) ?? 0;
  }

  /** Resolves with the first mark's time; undefined after `timeoutMs` without one. */
  wait(key: string, timeoutMs: number): Promise<number | undefined> {
    const k = key.toLowerCase();
    const at = this.first.get(k);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const list = this.waiters.get(k) ?? [];
        this.waiters.set(
          k,
          list.filter((w) => w !== done),
        );
        resolve(undefined);
      }, timeoutMs);
      const done = (t: number) => {
        clearTimeout(timer);
        resolve(t);
      };
      const list = this.waiters.get(k) ?? [];
      list.push(done);
      this.waiters.set(k, list);
    });
  }
}

type ArgsOf<F> = F extends (...a: infer A) => unknown ? A : never;

/**
 * The same object with one method observed: `before` runs with the call's arguments, then the original method
 * (bound to the original object); `after` runs with the same arguments once its promise settles successfully.
 * Everything else passes through.
 */
export function observe<T extends object, K extends keyof T>(
  target: T,
  method: K,
  hooks: { before?: (...args: ArgsOf<T[K]>) => void; after?: (...args: ArgsOf<T[K]>) => void },
): T {
  const before = hooks.before as ((...a: unknown[]) => void) | undefined;
  const after = hooks.after as ((...a: unknown[]) => void) | undefined;
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function') return value;
      const fn = value as (...a: unknown[]) => unknown;
      if (prop !== method) return fn.bind(t);
      return (...args: unknown[]) => {
        before?.(...args);
        const result = fn.apply(t, args);
        if (after && result instanceof Promise) {
          return result.then((r: unknown) => {
            after(...args);
            return r;
          });
        }
        return result;
      };
    },
  });
}
