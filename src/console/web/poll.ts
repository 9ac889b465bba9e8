/** Live data: a GET repeated every few seconds, conditional on the last ETag so unchanged answers are 304s. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { call, type Problem } from './api';

export interface Polled<T> {
  data?: T;
  problem?: Problem;
  /** Fetch now (after the person changed something), without waiting for the next tick. */
  refresh: () => void;
}

export function usePolled<T>(path: string | undefined, intervalMs: number): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [problem, setProblem] = useState<Problem | undefined>(undefined);
  const etag = useRef<string | undefined>(undefined);
  const current = useRef(path);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    current.current = path;
    etag.current = undefined;
    setData(undefined);
    setProblem(undefined);
  }, [path]);

  useEffect(() => {
    if (!path) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      const answer = await call<T>('GET', path, etag.current ? { etag: etag.current } : {});
      if (stopped || current.current !== path) return;
      if (answer.ok && 'body' in answer) {
        etag.current = answer.etag;
        setData(answer.body);
        setProblem(undefined);
      } else if (!answer.ok) {
        setProblem(answer.problem);
      }
      timer = setTimeout(() => void load(), intervalMs);
    };
    void load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [path, intervalMs, tick]);

  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { ...(data !== undefined ? { data } : {}), ...(problem ? { problem } : {}), refresh };
}
