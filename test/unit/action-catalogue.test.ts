import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ActionCatalogue, ActionCatalogueError, BUILTIN_CATALOGUE } from '../../src/actions/catalogue';
import { defineAction, specOf } from '../../src/actions/define';
import { loadCatalogue } from '../../src/actions/modules';
import { LEGACY_ACTION_SPECS, resolveKind } from '../../src/domain/actions';
import type { IncidentState } from '../../src/domain/incident';
import { parsePlaybook } from '../../src/playbooks/loader';
import { actionsToPlan, completeChecklistByActions } from '../../workflows/incident/actions';
import sinkholeDomain from '../fixtures/actions/sinkhole-domain';
import { testPlaybookYaml } from '../support/incident-harness';

const noop = defineAction({
  name: 'tag_host',
  capability: 'edr',
  entity: 'hosts',
  phases: ['eradication'],
  activity: 'tagHost',
  changesState: false,
  defaultApproval: { critical: 'auto', high: 'auto', medium: 'auto', low: 'auto' },
  describe: { verb: 'Tag host', done: 'host tagged' },
  perform: () => Promise.resolve({ alreadyInState: false }),
});

describe('the action catalogue', () => {
  it('keeps the original four exactly as histories recorded them (activity names, undo, verification)', () => {
    for (const [name, legacy] of Object.entries(LEGACY_ACTION_SPECS)) {
      expect(specOf(BUILTIN_CATALOGUE.get(name)!)).toEqual(legacy);
    }
    expect(BUILTIN_CATALOGUE.names().slice(0, 4)).toEqual(Object.keys(LEGACY_ACTION_SPECS));
  });

  it('refuses clashing names and activities, and activities the worker keeps for itself', () => {
    expect(() => BUILTIN_CATALOGUE.with([{ ...noop, name: 'isolate_host' }])).toThrow(
      new ActionCatalogueError('action name "isolate_host" is declared twice'),
    );
    expect(() => BUILTIN_CATALOGUE.with([{ ...noop, activity: 'releaseHost' }])).toThrow(
      /activity "releaseHost" is already taken by isolate_host/,
    );
    expect(() => new ActionCatalogue([{ ...noop, activity: 'snapshotLogs' }])).toThrow(/already taken/);
    expect(() => new ActionCatalogue([{ ...noop, name: 'Tag-Host' }])).toThrow(/lower-case words/);
    expect(() => new ActionCatalogue([{ ...noop, undo: { ...sinkholeDomain.undo! } }])).toThrow(
      /has an undo but changes no state/,
    );
  });

  it('gives the workflow the spec of every action a playbook names, undo kinds included', () => {
    const catalogue = BUILTIN_CATALOGUE.with([sinkholeDomain, noop]);
    const { playbook } = parsePlaybook(
      testPlaybookYaml(`containment:
  sinkhole_domain: {}
eradication:
  checklist: [{ id: tag, text: Tag it, action: tag_host }]
  actions:
    tag_host: {}`),
      'pb.yaml',
      catalogue,
    );
    expect(Object.keys(playbook.actionSpecs!)).toEqual(['sinkhole_domain', 'tag_host']);
    expect(playbook.containment.sinkhole_domain).toMatchObject({
      approval: { high: 'approve' },
      with: { answer: '198.51.100.53' },
    });
    expect(resolveKind(playbook.actionSpecs!, 'release_sinkhole')?.undo).toEqual({
      name: 'release_sinkhole',
      activity: 'releaseSinkhole',
      description: 'remove the domain from the sinkhole',
      verify: { activity: 'checkSinkholeState', restored: 'resolving' },
    });
  });

  it('plans a phase by catalogue order over the scope, and an action completes the checklist items naming it', () => {
    const catalogue = BUILTIN_CATALOGUE.with([noop]);
    const { playbook } = parsePlaybook(
      testPlaybookYaml(`eradication:
  checklist: [{ id: tag, text: Tag it, action: tag_host }, { id: other, text: Other }]
  actions:
    tag_host: {}
    run_antivirus_scan: {}`),
      'pb.yaml',
      catalogue,
    );
    const state = {
      severity: 'high',
      scope: { hosts: ['ws-1', 'ws-2'], accounts: [], ips: [], domains: [] },
      actions: [],
      checklist: [
        { itemId: 'tag', text: 'Tag it', action: 'tag_host' },
        { itemId: 'other', text: 'Other' },
      ],
    } as unknown as IncidentState;
    const plan = [...actionsToPlan(state, playbook, 'eradication', { leaveInternal: () => true })];
    expect(plan.map((p) => [p.kind, p.target, p.policy])).toEqual([
      ['run_antivirus_scan', 'ws-1', 'approve'],
      ['run_antivirus_scan', 'ws-2', 'approve'],
      ['tag_host', 'ws-1', 'auto'],
      ['tag_host', 'ws-2', 'auto'],
    ]);
    const run = (target: string, s: 'succeeded' | 'running') =>
      ({ actionId: `act-${target}`, kind: 'tag_host', target, purpose: 'eradication', state: s }) as never;
    state.actions.push(run('ws-1', 'succeeded'), run('ws-2', 'running'));
    expect(completeChecklistByActions(state, 'tag_host', '2026-12-02T00:00:00Z')).toEqual([]);
    state.actions[1]!.state = 'succeeded';
    expect(completeChecklistByActions(state, 'tag_host', '2026-12-02T00:00:00Z')).toEqual(['tag']);
    expect(state.checklist[0]).toMatchObject({ completedBy: 'quell:action:tag_host' });
    expect(state.checklist[1]!.completedAt).toBeUndefined();
  });
});

describe("QUELL_ACTIONS: a deployment's own action files", () => {
  it('adds the actions a file exports to the built-in catalogue, and names a file that exports none', async () => {
    const file = require.resolve('../fixtures/actions/sinkhole-domain');
    expect(loadCatalogue([file]).get('sinkhole_domain')?.activity).toBe('sinkholeDomain');
    expect(loadCatalogue([])).toBe(BUILTIN_CATALOGUE);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-actions-'));
    const bad = path.join(dir, 'bad.js');
    await fs.writeFile(bad, 'module.exports = { default: { name: 42 } };');
    expect(() => loadCatalogue([bad])).toThrow(new RegExp(`QUELL_ACTIONS: ${bad} must export an action`));
    expect(() => loadCatalogue([path.join(dir, 'missing.js')])).toThrow(/QUELL_ACTIONS: cannot load/);
    await fs.rm(dir, { recursive: true, force: true });
  });
});
