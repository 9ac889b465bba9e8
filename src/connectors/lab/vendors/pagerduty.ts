import { randomUUID } from 'node:crypto';
import express, { type Router } from 'express';
import { bodyOf, fail, locals } from '../http';
import type { LabStore } from '../store';

/** The lab's PagerDuty Events API v2 (`/v2/enqueue`), validated as PagerDuty does. */
export function pagerdutyRouter(store: LabStore): Router {
  const r = express.Router();
  r.post('/v2/enqueue', (req, res) => {
    if (locals(res).authExpired) {
      fail(res, 'pagerduty', 401, 'Invalid routing key', 'unauthorized');
      return;
    }
    const b = bodyOf(req);
    const errors: string[] = [];
    const routingKey = typeof b.routing_key === 'string' ? b.routing_key : '';
    if (!routingKey) errors.push("'routing_key' is missing or blank");
    const action = b.event_action;
    if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve') {
      errors.push("'event_action' is invalid (must be one of trigger, acknowledge or resolve)");
    }
    let dedupKey = typeof b.dedup_key === 'string' ? b.dedup_key : undefined;
    if (dedupKey !== undefined && dedupKey.length > 255)
      errors.push("'dedup_key' is too long (must be 255 characters or less)");
    if (action !== 'trigger' && !dedupKey)
      errors.push("'dedup_key' is required for acknowledge and resolve events");
    const payload = (b.payload ?? undefined) as Record<string, unknown> | undefined;
    if (action === 'trigger') {
      if (!payload || typeof payload !== 'object') errors.push("'payload' is missing");
      else {
        if (typeof payload.summary !== 'string' || !payload.summary)
          errors.push("'payload.summary' is missing or blank");
        else if (payload.summary.length > 1024) errors.push("'payload.summary' is too long");
        if (typeof payload.source !== 'string' || !payload.source)
          errors.push("'payload.source' is missing or blank");
        if (!['critical', 'error', 'warning', 'info'].includes(String(payload.severity))) {
          errors.push("'payload.severity' is invalid (must be one of critical, error, warning or info)");
        }
      }
    }
    if (errors.length) {
      res.status(400).json({ status: 'invalid event', message: 'Event object is invalid', errors });
      return;
    }
    dedupKey ??= randomUUID().replace(/-/g, '');
    store.addPagerDutyEvent({
      eventAction: String(action),
      dedupKey,
      routingKeyHint: routingKey.slice(-4),
      ...(payload ? { payload } : {}),
    });
    res.status(202).json({ status: 'success', message: 'Event processed', dedup_key: dedupKey });
  });
  return r;
}
