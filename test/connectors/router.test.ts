import { NotificationRouter } from '../../src/connectors/notify/router';
import { PagerDutyChannel } from '../../src/connectors/notify/pagerduty';
import { SlackWebhookChannel } from '../../src/connectors/notify/slack';
import type { Notification } from '../../src/connectors/types';
import { expectConnectorError, labAllowList, useLab } from './support';

const ctl = useLab();

function note(route: string, over: Partial<Notification> = {}): Notification {
  const id = `INC-${Math.random().toString(16).slice(2, 10)}`;
  return {
    route,
    incidentId: id,
    subject: 'Fan-out test',
    text: 'hello',
    severity: 'high',
    dedupKey: id,
    idempotencyKey: `${id}:n1`,
    ...over,
  };
}

function router() {
  const allowList = labAllowList(ctl.lab);
  const hook = (name: string) =>
    new SlackWebhookChannel({ url: `${ctl.lab.url}/slack/webhook/${name}`, allowList, timeoutMs: 2_000 });
  const pd = new PagerDutyChannel({
    baseUrl: `${ctl.lab.url}/pagerduty`,
    routingKey: 'rk-lab',
    allowList,
    timeoutMs: 2_000,
  });
  return new NotificationRouter({ soc: hook('soc'), oncall: [hook('oncall'), pd] });
}

describe('NotificationRouter', () => {
  it('lists its routes and refuses an unknown route with PermanentConnectorError', async () => {
    const r = router();
    expect(r.routes()).toEqual(['oncall', 'soc']);
    const err = await expectConnectorError(r.send(note('nowhere')), 'permanent', 'PermanentConnectorError');
    expect(err.message).toMatch(/unknown route "nowhere" \(configured: oncall, soc\)/);
    expect(r.describeRoutes().oncall).toEqual([
      `Slack incoming webhook at ${ctl.lab.url}`,
      `PagerDuty Events v2 at ${ctl.lab.url}`,
    ]);
  });

  it('delivers to the route picked by name', async () => {
    const n = note('soc');
    const res = await router().send(n);
    expect(res).toEqual({ route: 'soc', delivered: true });
    expect(ctl.lab.store.messages({ channel: 'soc' }).some((m) => m.text?.includes(n.incidentId))).toBe(true);
    expect(ctl.lab.store.messages({ channel: 'oncall' }).some((m) => m.text?.includes(n.incidentId))).toBe(
      false,
    );
  });

  it('fans a route out to all its channels', async () => {
    const n = note('oncall');
    const res = await router().send(n);
    expect(res).toEqual({ route: 'oncall', delivered: true, vendorRef: n.incidentId });
    expect(
      ctl.lab.store.messages({ channel: 'oncall' }).filter((m) => m.text?.includes(n.incidentId)),
    ).toHaveLength(1);
    expect(ctl.lab.store.pagerDutyEvents().filter((e) => e.dedupKey === n.incidentId)).toHaveLength(1);
  });

  it('on a partial failure, throws, and a retry only re-sends to the channels that failed', async () => {
    const r = router();
    const n = note('oncall');
    ctl.lab.store.addFault({ match: { vendor: 'pagerduty' }, fault: '5xx', times: 1 });
    const err = await expectConnectorError(r.send(n), 'transient');
    expect(err.message).toMatch(/1\/2 channel\(s\) failed/);
    expect(await r.send(n)).toMatchObject({ delivered: true });
    expect(
      ctl.lab.store.messages({ channel: 'oncall' }).filter((m) => m.text?.includes(n.incidentId)),
    ).toHaveLength(1);
    expect(ctl.lab.store.pagerDutyEvents().filter((e) => e.dedupKey === n.incidentId)).toHaveLength(1);
  });

  it('prefers a non-retryable failure when several channels fail', async () => {
    ctl.lab.store.addFault({ match: { vendor: 'pagerduty' }, fault: '4xx', times: 1 });
    ctl.lab.store.addFault({ match: { vendor: 'slack' }, fault: '5xx', times: 1 });
    await expectConnectorError(router().send(note('oncall')), 'permanent');
  });

  it('refuses a route without channels', () => {
    expect(() => new NotificationRouter({ empty: [] })).toThrow(/no channels/);
  });
});
