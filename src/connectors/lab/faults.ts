import type { NextFunction, Request, Response } from 'express';
import { fail, locals } from './http';
import type { LabVendor } from './credentials';
import type { LabFaultKind, LabFaultRule } from './estate/fault-rules';
import type { LabStore } from './store';

/** Vendors whose credentials are OAuth tokens the lab issues: `auth_expired` invalidates those. */
const AUDIENCE: Partial<Record<LabVendor, 'crowdstrike' | 'defender' | 'graph'>> = {
  crowdstrike: 'crowdstrike',
  defender: 'defender',
  graph: 'graph',
};

/**
 * The gate in front of each vendor: records every call (with its status and fault) and applies the first
 * fault rule that matches it.
 */
export function gate(store: LabStore, vendor: LabVendor) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const url = req.originalUrl;
    let finished = false;
    res.on('finish', () => {
      finished = true;
      store.recordCall({ vendor, method: req.method, url, status: res.statusCode, ...faultOf(res) });
    });
    res.on('close', () => {
      if (!finished) store.recordCall({ vendor, method: req.method, url, status: 0, ...faultOf(res) });
    });
    const rule = store.takeFault(vendor, req.method, url);
    if (!rule) {
      next();
      return;
    }
    locals(res).fault = rule.fault;
    FAULTS[rule.fault]({ store, vendor, rule, req, res, next });
  };
}

function faultOf(res: Response): { fault?: LabFaultRule['fault'] } {
  const f = locals(res).fault;
  return f ? { fault: f as LabFaultRule['fault'] } : {};
}

/** A request a fault rule matched, with what applying the fault needs. */
interface Faulted {
  store: LabStore;
  vendor: LabVendor;
  rule: LabFaultRule;
  req: Request;
  res: Response;
  next: NextFunction;
}

/** Issued OAuth tokens become invalid (the request gets a 401); static credentials are refused this once. */
function expireAuth({ store, vendor, res, next }: Faulted): void {
  const audience = AUDIENCE[vendor];
  if (audience) store.expireTokens(audience);
  else locals(res).authExpired = true;
  next();
}

function unavailable({ vendor, req, res }: Faulted): void {
  if (vendor === 'slack' && req.path.startsWith('/webhook/')) {
    res.status(503).type('text/plain').send('service_unavailable');
    return;
  }
  fail(
    res,
    vendor,
    503,
    'Service temporarily unavailable (lab fault)',
    vendor === 'okta' ? 'E0000009' : vendor === 'virustotal' ? 'TransientError' : undefined,
  );
}

/** A request the vendor refuses as malformed, in its own shape. */
function badRequest({ vendor, req, res }: Faulted): void {
  if (vendor === 'slack') {
    if (req.path.startsWith('/webhook/')) res.status(400).type('text/plain').send('invalid_payload');
    else res.json({ ok: false, error: 'invalid_arguments' });
    return;
  }
  if (vendor === 'abuseipdb') {
    fail(res, vendor, 422, 'Bad request (lab fault)', 'ipAddress');
    return;
  }
  if (vendor === 'pagerduty') {
    res
      .status(400)
      .json({ status: 'invalid event', message: 'Event object is invalid', errors: ['lab fault'] });
    return;
  }
  fail(
    res,
    vendor,
    400,
    'Bad request (lab fault)',
    vendor === 'okta'
      ? 'E0000003'
      : vendor === 'cloudflare'
        ? 10003
        : vendor === 'azuread'
          ? 'invalid_request'
          : vendor === 'virustotal'
            ? 'BadRequestError'
            : 'BadRequest',
  );
}

function rateLimited({ store, vendor, rule, res }: Faulted): void {
  const seconds = rule.retryAfterSeconds ?? 1;
  if (vendor === 'okta') {
    // Okta says when the window resets (epoch seconds) rather than Retry-After.
    res.set('X-Rate-Limit-Limit', '600');
    res.set('X-Rate-Limit-Remaining', '0');
    res.set('X-Rate-Limit-Reset', String(Math.ceil(store.now() / 1000 + seconds)));
    fail(res, vendor, 429, 'API call exceeded rate limit due to too many requests.', 'E0000047');
    return;
  }
  res.set('Retry-After', String(seconds));
  if (vendor === 'abuseipdb') {
    // AbuseIPDB's quota is daily: it says when it resets beside the delay.
    res.set('X-RateLimit-Limit', '1000');
    res.set('X-RateLimit-Remaining', '0');
    res.set('X-RateLimit-Reset', String(Math.ceil(store.now() / 1000 + seconds)));
    fail(res, vendor, 429, 'Daily rate limit of 1000 requests exceeded for this endpoint (lab fault).');
    return;
  }
  if (vendor === 'slack') {
    res.status(429).json({ ok: false, error: 'ratelimited' });
    return;
  }
  fail(
    res,
    vendor,
    429,
    'Too many requests (lab fault)',
    vendor === 'defender' || vendor === 'graph'
      ? 'TooManyRequests'
      : vendor === 'virustotal'
        ? 'QuotaExceededError'
        : undefined,
  );
}

function inProgress({ vendor, res }: Faulted): void {
  if (vendor === 'defender') {
    fail(res, vendor, 400, 'Action is already in progress', 'ActiveRequestAlreadyExists');
    return;
  }
  if (vendor === 'cloudflare') {
    fail(res, vendor, 400, 'firewallaccessrules.api.duplicate_of_existing', 10009);
    return;
  }
  fail(res, vendor, 409, 'An action for this target is already in progress (lab fault)', 'Conflict');
}

/** The request takes effect; its answer is held (the caller may never hear of it). */
function holdAnswer({ rule, res, next }: Faulted): void {
  const end = res.end.bind(res) as (...a: unknown[]) => Response;
  res.end = ((...a: unknown[]) => {
    setTimeout(() => end(...a), rule.holdMs ?? 5_000);
    return res;
  }) as Response['end'];
  next();
}

/** No answer for a while, then a 504 if the caller is still there. */
function timeOut({ vendor, rule, res }: Faulted): void {
  const timer = setTimeout(() => {
    if (!res.headersSent) fail(res, vendor, 504, 'Gateway timeout (lab fault)');
  }, rule.holdMs ?? 30_000);
  res.on('close', () => clearTimeout(timer));
}

/** How each fault kind answers (or holds, or lets through) a request, in the vendor's own shape. */
const FAULTS: Record<LabFaultKind, (f: Faulted) => void> = {
  auth_expired: expireAuth,
  '5xx': unavailable,
  '4xx': badRequest,
  '429': rateLimited,
  in_progress: inProgress,
  slow_response: holdAnswer,
  timeout: timeOut,
};
