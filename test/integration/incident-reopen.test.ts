import { randomUUID } from 'node:crypto';
import { actionOf, actors, startHarness, testPlaybookYaml, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

/** Everything automatic, so the incident reaches lessons learned on its own. */
const autoPlaybook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }
eradication: { checklist: [] }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }
  retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }`);

describe('a correlated alert after recovery reopens the incident', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors(), playbookYaml: autoPlaybook });
  });
  afterAll(() => h?.stop());

  it('contains, investigates and recovers the new scope too, then returns to lessons learned', async () => {
    const tag = randomUUID().slice(0, 8);
    const rule = `reopen.${tag}`;
    const first = await h.ingest({
      id: `r1-${tag}`,
      rule,
      severity: 'high',
      hosts: [`ws-a-${tag}`],
      accounts: [],
    });
    let s = await h.until(first.incidentId, (x) => x.phase === 'lessons_learned', 'lessons learned');
    expect(estate.hosts.get(`ws-a-${tag}`)).toBe('normal');

    // Same rule and primary host: correlates into the open incident, and widens it to a second host.
    const second = await h.ingest({
      id: `r2-${tag}`,
      rule,
      severity: 'high',
      hosts: [`ws-a-${tag}`, `ws-b-${tag}`],
      accounts: [],
    });
    expect(second).toMatchObject({ incidentId: first.incidentId, deduplicated: false });
    s = await h.until(
      first.incidentId,
      (x) => x.reopened === 1 && x.phase === 'lessons_learned',
      'reopened and recovered again',
    );
    expect(actionOf(s, 'isolate_host', `ws-b-${tag}`).state).toBe('compensated');
    expect(actionOf(s, 'release_host', `ws-b-${tag}`).state).toBe('succeeded');
    expect(estate.effects('contain', `ws-b-${tag}`)).toHaveLength(1);
    expect(estate.effects('release', `ws-b-${tag}`)).toHaveLength(1);
    expect(estate.hosts.get(`ws-b-${tag}`)).toBe('normal');
    // The host already released is not contained again by a late alert about it.
    expect(s.actions.filter((a) => a.kind === 'isolate_host' && a.target === `ws-a-${tag}`)).toHaveLength(1);
    expect(estate.effects('contain', `ws-a-${tag}`)).toHaveLength(1);
    // The new host's logs were collected too.
    expect(s.evidence.map((e) => e.subject).sort()).toEqual([`ws-a-${tag}`, `ws-b-${tag}`]);
    await h.service.close(first.incidentId, 'resolved', undefined, actors.alice);
    await h.until(first.incidentId, (x) => x.status === 'closed', 'closed');
  });
});
