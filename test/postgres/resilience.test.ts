/**
 * Quell deployed on a PostgreSQL-backed Temporal through failures: a burst of alerts while one worker is
 * SIGKILLed and another restarted, then a Temporal Server restart and a PostgreSQL restart (same data
 * directory) while senders keep posting and retry what they are told to retry.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IncidentState } from '../../src/domain/incident';
import { AlertSender } from '../support/alert-sender';
import { waitFor } from '../support/processes';
import { pool } from '../support/pool';
import { containmentDone, drillPlaybook, report } from '../reliability/drill-support';
import { startProductionStack, TOKENS, type ProductionStack } from './stack';

describe('Quell on a PostgreSQL-backed Temporal through worker, server and database failures', () => {
  let stack: ProductionStack;
  let sender: AlertSender;
  beforeAll(async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-pg-playbooks-'));
    await fs.writeFile(path.join(dir, 'drill.yaml'), drillPlaybook);
    stack = await startProductionStack({ workers: 3, playbooksDir: dir });
    sender = new AlertSender(stack.apiUrl, TOKENS.ingest);
  }, 180_000);
  afterAll(async () => {
    // QUELL_TEST_VERBOSE=1: what the API logged as errors, to see why a sender was refused.
    if (process.env.QUELL_TEST_VERBOSE) {
      const errors =
        stack?.api
          .output()
          .split('\n')
          .filter((l) => l.includes('"level":50')) ?? [];
      process.stdout.write(`${errors.slice(0, 10).join('\n')}\n`);
    }
    sender?.close();
    await stack?.stop();
  });

  const alertFor = (host: string, n: number, tag: string) =>
    JSON.stringify({
      source: 'drill-siem',
      id: `${host}-${n}`,
      title: `Ransomware behaviour on ${host}`,
      rule: `drill.pg.${tag}`,
      type: 'ransomware',
      severity: 'critical',
      hosts: [host],
    });

  /** Every host contained exactly once in the lab's ledger, and every incident past containment. */
  const expectContainedOnce = async (hosts: string[], incidents: Set<string>, what: string) => {
    await waitFor(
      async () => {
        const contained = new Set(
          stack.lab.store
            .ledger()
            .filter((e) => e.effect === 'contain')
            .map((e) => e.target),
        );
        return hosts.every((h) => contained.has(h));
      },
      180_000,
      `${what}: every host contained`,
    );
    const effects = stack.lab.store
      .ledger()
      .filter((e) => e.effect === 'contain' && hosts.includes(e.target));
    const perHost = new Map<string, number>();
    for (const e of effects) perHost.set(e.target, (perHost.get(e.target) ?? 0) + 1);
    expect([...perHost.values()].filter((n) => n !== 1)).toEqual([]);
    await pool([...incidents], 8, async (id) => {
      await waitFor(
        async () => containmentDone(await stack.get<IncidentState>(`/api/v1/incidents/${id}`)),
        60_000,
        `incident ${id} past containment`,
      );
    });
  };

  it('contains a burst of 200 hosts while one worker is SIGKILLed and another restarted', async () => {
    const tag = randomBytes(4).toString('hex');
    const hosts = Array.from({ length: 200 }, (_, i) => `ws-pgburst-${i}-${tag}`);
    const started = Date.now();
    const events: string[] = [];
    const sending = pool(hosts, 8, (h) => sender.deliver(alertFor(h, 0, tag)));
    await waitFor(async () => sender.delivered >= 50, 60_000, '50 alerts delivered');
    const victim = stack.workers[0]!;
    await stack.killWorker(victim);
    events.push(
      `SIGKILL worker at ${sender.delivered} delivered, ${stack.lab.store.ledger().length} effects`,
    );
    await waitFor(async () => sender.delivered >= 100, 60_000, '100 alerts delivered');
    const restarted = stack.workers[0]!;
    const code = await stack.stopWorker(restarted);
    expect(code).toBe(0);
    await stack.addWorker();
    events.push(`restarted a worker (drained, exit ${code}) at ${sender.delivered} delivered`);
    const receipts = await sending;
    const incidents = new Set(receipts.map((r) => r.receipt.incidentId));
    expect(incidents.size).toBe(hosts.length);
    await expectContainedOnce(hosts, incidents, 'burst');
    report('postgres burst', {
      alerts: hosts.length,
      seconds: ((Date.now() - started) / 1000).toFixed(1),
      events,
      statuses: sender.statuses,
      errors: sender.errors,
    });
  });

  it('loses nothing across a Temporal Server restart and a PostgreSQL restart: one incident per host', async () => {
    const tag = randomBytes(4).toString('hex');
    const perHost = 3;
    const hosts = Array.from({ length: 40 }, (_, i) => `ws-pgrestart-${i}-${tag}`);
    const alerts = hosts.flatMap((h) =>
      Array.from({ length: perHost }, (_, n) => ({ host: h, body: alertFor(h, n, tag) })),
    );
    const before = { ...sender.statuses, ...sender.errors };
    const deliveredBefore = sender.delivered;
    const events: string[] = [];
    // Paced at about 20 alerts/s, so both outages land mid-stream.
    const sending = pool(alerts, 4, async (a) => {
      const r = await sender.deliver(a.body);
      await new Promise((res) => setTimeout(res, 200));
      return { host: a.host, ...r };
    });
    const progress = () => sender.delivered - deliveredBefore;
    await waitFor(async () => progress() >= 20, 60_000, '20 alerts delivered');
    let at = Date.now();
    await stack.temporal.stop();
    await new Promise((r) => setTimeout(r, 2_000));
    await stack.temporal.start();
    events.push(`Temporal Server restarted at ${progress()} delivered, down ${Date.now() - at} ms`);
    await waitFor(async () => progress() >= 60, 120_000, '60 alerts delivered');
    at = Date.now();
    await stack.pg.stop();
    await new Promise((r) => setTimeout(r, 2_000));
    await stack.pg.start();
    events.push(`PostgreSQL restarted at ${progress()} delivered, down ${Date.now() - at} ms`);
    const results = await sending;
    expect(progress()).toBeGreaterThan(60); // the second outage landed before the last alert
    // Every alert of a host joined the host's one incident, however many attempts its sender made.
    const byHost = new Map<string, Set<string>>();
    for (const r of results) {
      const set = byHost.get(r.host) ?? new Set<string>();
      set.add(r.receipt.incidentId);
      byHost.set(r.host, set);
    }
    expect([...byHost.values()].filter((s) => s.size !== 1)).toEqual([]);
    const retried = results.filter((r) => r.attempts > 1).length;
    const incidents = new Set(results.map((r) => r.receipt.incidentId));
    expect(incidents.size).toBe(hosts.length);
    await expectContainedOnce(hosts, incidents, 'restarts');
    const met: Record<string, number> = {};
    for (const [k, v] of Object.entries({ ...sender.statuses, ...sender.errors })) {
      const delta = v - (before[k] ?? 0);
      if (delta > 0) met[k] = delta;
    }
    report('postgres restarts', { alerts: alerts.length, events, retried, answers: met });
    // The outages were felt: some sender was told to retry (503) or could not get an answer.
    expect(retried).toBeGreaterThan(0);
  });
});
