/** What responders wrote down: the eradication checklist, lessons learned and their other notes. */
import { md } from './escape';
import type { IncidentReport } from './types';

export function checklistMarkdown(r: IncidentReport): string[] {
  return [
    '## Eradication checklist',
    '',
    ...r.checklist.map(
      (c) =>
        `- [${c.completedAt ? 'x' : ' '}] ${md(c.text)}${c.completedBy ? ` — ${md(c.completedBy)}, ${md(c.completedAt)}${c.note ? `: ${md(c.note)}` : ''}` : ''}`,
    ),
    '',
  ];
}

/** Lessons learned, then (when there are any) the other notes. */
export function lessonsMarkdown(r: IncidentReport): string[] {
  const note = (n: IncidentReport['notes'][number]) => `- ${md(n.text)} — ${md(n.author)}, ${md(n.at)}`;
  const otherNotes = r.notes.filter((n) => n.kind !== 'lessons_learned');
  return [
    '## Lessons learned',
    '',
    ...(r.lessonsLearned.length ? r.lessonsLearned.map(note) : ['_None recorded._']),
    ...(otherNotes.length ? ['', '### Notes', '', ...otherNotes.map(note)] : []),
    '',
  ];
}
