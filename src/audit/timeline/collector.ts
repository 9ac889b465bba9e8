/** The entries the sources find, put in history order at the end. */
import type { Anchor, EntryDraft, EventRef, TimelineEntry } from './types';
import { toMs } from './events';

interface Pending {
  sortRun: number;
  sortEvent: number;
  order: number;
  entry: EntryDraft;
}

export class TimelineCollector {
  private readonly pending: Pending[] = [];
  private order = 0;

  /** Adds an entry at its anchor, and returns it so a fact read later (a signal's outcome) can complete it. */
  add(anchor: Anchor, entry: EntryDraft): EntryDraft {
    this.pending.push({
      sortRun: anchor.runIndex,
      sortEvent: anchor.eventId,
      order: this.order++,
      entry,
    });
    return entry;
  }

  /** Ordered by run, then event, then the order the facts were read in; `runs` are the export's runs. */
  entries(runs: readonly { runId: string }[]): TimelineEntry[] {
    const sorted = [...this.pending].sort(
      (x, y) => x.sortRun - y.sortRun || x.sortEvent - y.sortEvent || x.order - y.order,
    );
    return sorted.map((p, seq) => {
      const refs = dedupeRefs(p.entry.refs);
      const runId = refs[0]?.runId ?? runs[p.sortRun]?.runId ?? '';
      return {
        seq,
        at: toMs(p.entry.at) ?? p.entry.at,
        kind: p.entry.kind,
        summary: p.entry.summary,
        ...(p.entry.actor ? { actor: p.entry.actor } : {}),
        ...(p.entry.roles ? { roles: p.entry.roles } : {}),
        runId,
        eventIds: refs.filter((r) => r.runId === runId).map((r) => r.eventId),
        refs,
        details: p.entry.details,
      };
    });
  }
}

function dedupeRefs(refs: EventRef[]): EventRef[] {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const k = `${r.runId}:${r.eventId}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
