/** How times and durations read in the console. */
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** "3 min", "2 h 5 min", "4 d" from a number of seconds. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** How long ago an ISO time was, e.g. "5 min ago". */
export function age(iso: string, now = Date.now()): string {
  return `${duration((now - Date.parse(iso)) / 1000)} ago`;
}

/** How long until an ISO time, or how long since it passed. */
export function until(iso: string, now = Date.now()): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  return seconds >= 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
}

/** An ISO time in the reader's locale, to the second, with the zone. */
export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { timeZoneName: 'short' });
}

/** `lessons_learned` -> "lessons learned". */
export function words(id: string): string {
  return id.replace(/_/g, ' ');
}

/** Re-renders every `ms` so ages and times left stay true between answers from the API. */
export function useClock(ms = 15_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * Focus for a page's heading once it is shown (`ready`), so keyboard and screen-reader users start on the new
 * page rather than where the link they followed was.
 */
export function useFocusOnShow(ready: boolean): RefObject<HTMLHeadingElement> {
  const heading = useRef<HTMLHeadingElement>(null);
  const done = useRef(false);
  useEffect(() => {
    if (!ready || done.current || !heading.current) return;
    done.current = true;
    heading.current.focus();
  }, [ready]);
  return heading;
}
