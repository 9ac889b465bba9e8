/**
 * The incident's evidence: for each item its SHA-256, size, where it is kept and its chain of custody (from
 * `GET /api/v1/incidents/{id}/evidence`, read again whenever the incident gains an item). People who may not
 * read the manifest (approvers only) see what the incident state says.
 */
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { EvidenceSummary, IncidentState } from '../../domain/incident';
import { call, describeProblem, may, type Me } from './api';
import { when } from './format';

/** What the console reads of a manifest item (src/audit/bundle/types.ts has the whole contract). */
interface ManifestItem extends EvidenceSummary {
  custody: { at: string; actor: string; action: string; note?: string }[];
  custodySource: 'evidence-store' | 'incident-state';
  refs: { runId: string; eventId: number; eventType: string }[];
}

function useManifest(state: IncidentState, allowed: boolean) {
  const [items, setItems] = useState<ManifestItem[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const ids = state.evidence.map((e) => e.evidenceId).join(' ');
  useEffect(() => {
    if (!allowed || ids === '') return;
    let live = true;
    void call<{ items: ManifestItem[] }>('GET', `/api/v1/incidents/${state.incidentId}/evidence`).then(
      (answer) => {
        if (!live) return;
        if (answer.ok && 'body' in answer) {
          setItems(answer.body.items);
          setError(undefined);
        } else if (!answer.ok) {
          setError(`The chain of custody could not be read: ${describeProblem(answer.problem)}`);
        }
      },
    );
    return () => {
      live = false;
    };
  }, [state.incidentId, ids, allowed]);
  return { items, error };
}

function Custody({ item }: { item: ManifestItem }) {
  return h(
    'div',
    { class: 'custody' },
    h('h4', null, 'Chain of custody'),
    h(
      'ol',
      { 'data-testid': 'custody' },
      ...item.custody.map((c, i) =>
        h(
          'li',
          { key: String(i) },
          h('strong', null, c.action),
          ` by ${c.actor}, ${when(c.at)}`,
          c.note ? ` — ${c.note}` : null,
        ),
      ),
    ),
    item.custodySource === 'incident-state'
      ? h('p', { class: 'hint' }, 'The evidence store could not be read: only the collection is shown.')
      : null,
    item.refs.length
      ? h('p', { class: 'hint' }, `History events ${item.refs.map((r) => r.eventId).join(', ')}`)
      : null,
  );
}

export function Evidence({ state, me }: { state: IncidentState; me: Me }) {
  const allowed = may(me, 'responder') || may(me, 'auditor');
  const manifest = useManifest(state, allowed);
  if (!state.evidence.length) return h('p', null, 'No evidence collected yet.');
  const byId = new Map((manifest.items ?? []).map((i) => [i.evidenceId, i]));
  return h(
    'div',
    null,
    manifest.error ? h('p', { class: 'error', role: 'alert' }, manifest.error) : null,
    h(
      'ul',
      { class: 'evidence' },
      ...state.evidence.map((e) => {
        const item = byId.get(e.evidenceId);
        return h(
          'li',
          { key: e.evidenceId, 'data-evidence': e.evidenceId },
          h('strong', null, e.name),
          ` (${e.subject}, ${e.sizeBytes} bytes, from ${e.source}, collected by ${e.collectedBy} ${when(e.collectedAt)})`,
          h('div', null, 'SHA-256 ', h('code', { class: 'hash' }, e.sha256)),
          h('div', { class: 'hint' }, e.location),
          item ? h(Custody, { item }) : null,
        );
      }),
    ),
    allowed ? null : h('p', { class: 'hint' }, 'The chain of custody is shown to responders and auditors.'),
  );
}
