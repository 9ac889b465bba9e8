import { PagerDutyChannel, pagerDutyDedupKey } from '../../src/connectors/notify/pagerduty';
import type { Notification } from '../../src/connectors/types';
import {
  ERROR_NAMES,
  expectConnectorError,
  faultMatrix,
  json,
  labAllowList,
  startContractServer,
  useLab,
} from './support';

const ctl = useLab();

function note(over: Partial<Notification> = {}): Notification {
  const incidentId = over.incidentId ?? `INC-${Math.random().toString(16).slice(2, 10)}`;
  return {
    route: 'oncall',
    incidentId,
    subject: 'Ransomware on ws-fin-042',
    text: 'Host contained; awaiting approval to disable j.doe',
    severity: 'critical',
    dedupKey: incidentId,
    idempotencyKey: `${incidentId}:page-1`,
    ...over,
  };
}

function pd(opts: { routingKey?: string; timeoutMs?: number } = {}) {
  return new PagerDutyChannel({
    baseUrl: `${ctl.lab.url}/pagerduty`,
    routingKey: opts.routingKey ?? 'R0UT1NGKEY00000000000000000LAB01',
    allowList: labAllowList(ctl.lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

describe('PagerDuty Events v2 channel against the lab', () => {
  it('triggers with the documented event shape and gets 202 with the dedup key', async () => {
    const n = note({ link: 'http://127.0.0.1:8080/i/1' });
    const res = await pd().deliver(n);
    expect(res.vendorRef).toBe(n.incidentId);
    const event = ctl.lab.store.pagerDutyEvents().at(-1)!;
    expect(event).toMatchObject({ eventAction: 'trigger', dedupKey: n.incidentId, routingKeyHint: 'AB01' });
    expect(event.payload).toMatchObject({
      summary: `${n.incidentId}: Ransomware on ws-fin-042`,
      source: 'quell',
      severity: 'critical',
      component: 'quell',
      group: 'oncall',
      class: 'security-incident',
      custom_details: { incidentId: n.incidentId, text: n.text, link: 'http://127.0.0.1:8080/i/1' },
    });
    expect(Number.isNaN(Date.parse((event.payload as { timestamp: string }).timestamp))).toBe(false);
  });

  it('maps our severities onto PagerDuty severities', async () => {
    const seen: string[] = [];
    for (const severity of ['critical', 'high', 'medium', 'low'] as const) {
      await pd().deliver(note({ severity }));
      seen.push((ctl.lab.store.pagerDutyEvents().at(-1)!.payload as { severity: string }).severity);
    }
    expect(seen).toEqual(['critical', 'error', 'warning', 'info']);
  });

  it('dedups on the incident: repeated triggers are one alert, and resolve closes it', async () => {
    const n = note();
    await pd().deliver(n);
    await pd().deliver(n);
    expect(ctl.lab.store.pagerDutyAlerts()[n.incidentId]).toEqual({ status: 'triggered', events: 2 });
    await pd().deliver({ ...n, eventAction: 'resolve' });
    expect(ctl.lab.store.pagerDutyAlerts()[n.incidentId]).toEqual({ status: 'resolved', events: 3 });
    expect(ctl.lab.store.pagerDutyEvents().at(-1)!.payload).toBeUndefined();
  });

  it('keeps dedup keys within 255 characters', async () => {
    const long = 'X'.repeat(400);
    expect(pagerDutyDedupKey(long)).toHaveLength(255);
    expect(pagerDutyDedupKey(long)).toBe(pagerDutyDedupKey(long));
    expect(pagerDutyDedupKey(`${long}y`)).not.toBe(pagerDutyDedupKey(long));
    const res = await pd().deliver(note({ dedupKey: long }));
    expect(res.vendorRef).toHaveLength(255);
  });

  it('maps an invalid event (400) to PermanentConnectorError', async () => {
    const err = await expectConnectorError(
      pd({ routingKey: '' }).deliver(note()),
      'permanent',
      ERROR_NAMES.permanent,
    );
    expect(err.message).toMatch(/routing_key/);
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'pagerduty',
      (timeoutMs) => pd({ timeoutMs }).deliver(note()),
    );
  });

  it('treats any answer but 202 as a failure', async () => {
    const server = await startContractServer((_req, res) => json(res, 200, { status: 'success' }));
    try {
      const ch = new PagerDutyChannel({ baseUrl: server.url, routingKey: 'k', allowList: [server.url] });
      await expectConnectorError(ch.deliver(note()), 'permanent');
      expect(server.requests[0]!.url).toBe('/v2/enqueue');
    } finally {
      await server.stop();
    }
  });
});
