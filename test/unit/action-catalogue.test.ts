import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ActionCatalogue, ActionCatalogueError, BUILTIN_CATALOGUE } from '../../src/actions/catalogue';
import { defineAction, specOf } from '../../src/actions/define';
import { loadCatalogue } from '../../src/actions/modules';
import { LEGACY_ACTION_SPECS, resolveKind } from '../../src/domain/actions';
import type { IncidentState } from '../../src/domain/incident';
import { UnsupportedActionError } from '../../src/connectors/errors';
import type { Connectors } from '../../src/connectors/types';
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

describe("quarantine_file on the alerts' file hashes", () => {
  const parse = (actions: string) =>
    parsePlaybook(testPlaybookYaml(`eradication:\n  checklist: []\n  actions:\n${actions}`), 'pb.yaml')
      .playbook;
  const SHA1 = 'a'.repeat(40);
  const SHA256 = 'b'.repeat(64);
  const stateWith = (files?: string[]) =>
    ({
      severity: 'high',
      scope: { hosts: ['ws-1'], accounts: [], ips: [], domains: [], ...(files ? { files } : {}) },
      actions: [],
    }) as unknown as IncidentState;

  it('without `with:` waits for the scope to name a hash, then carries the hashes it was planned with', () => {
    const playbook = parse('    quarantine_file: {}');
    const plan = (s: IncidentState) => [
      ...actionsToPlan(s, playbook, 'eradication', { leaveInternal: () => true }),
    ];
    expect(plan(stateWith())).toEqual([]);
    expect(plan(stateWith([SHA1, SHA256])).map((p) => [p.target, p.files])).toEqual([
      ['ws-1', [SHA1, SHA256]],
    ]);
    // A playbook that names the file quarantines that file, whatever the alerts say.
    const named = parse(`    quarantine_file: { with: { sha1: '${SHA1}' } }`);
    expect([...actionsToPlan(stateWith(), named, 'eradication', { leaveInternal: () => true })]).toEqual([
      expect.not.objectContaining({ files: expect.anything() }),
    ]);
  });

  it('quarantines each hash the vendor takes and names the rest; none it takes is a permanent failure', async () => {
    const action = BUILTIN_CATALOGUE.get('quarantine_file')!;
    const calls: unknown[] = [];
    const connectors = {
      edr: {
        vendor: 'defender',
        responseActions: {
          quarantineFile: (host: string, file: { sha1?: string }, ctx: { idempotencyKey: string }) => {
            calls.push([host, file, ctx.idempotencyKey]);
            if (!file.sha1)
              return Promise.reject(new UnsupportedActionError('takes a SHA-1', { vendor: 'defender' }));
            return Promise.resolve({ alreadyInState: false, vendorRef: `ma-${calls.length}` });
          },
        },
      },
    } as unknown as Connectors;
    const req = (files: string[]) => ({
      incidentId: 'inc-1',
      actionId: 'act-1',
      target: 'ws-1',
      comment: 'c',
      input: { files },
      idempotencyKey: 'inc-1:act-1',
      collector: 'test',
    });
    const md5 = 'c'.repeat(32);
    await expect(action.perform(connectors, req([md5, SHA1, SHA256]))).resolves.toEqual({
      alreadyInState: false,
      vendorRef: 'ma-1',
      detail: `Not quarantined (defender): ${md5}: an MD5 (quarantine takes a SHA-1 or SHA-256); ${SHA256}: takes a SHA-1`,
    });
    // Each file its own idempotency key, so a retried activity finds each vendor action again.
    expect(calls).toEqual([
      ['ws-1', { sha1: SHA1 }, `inc-1:act-1:${SHA1}`],
      ['ws-1', { sha256: SHA256 }, `inc-1:act-1:${SHA256}`],
    ]);
    await expect(action.perform(connectors, req([md5, SHA256]))).rejects.toThrow(
      /defender can quarantine none of the files/,
    );
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
