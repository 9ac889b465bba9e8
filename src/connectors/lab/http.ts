import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { LabVendor } from './credentials';
import type { LabStore } from './store';

/** What the fault gate tells a vendor's handlers about the request at hand. */
type Locals = { authExpired?: boolean; fault?: string };

export function locals(res: Response): Locals {
  return res.locals as Locals;
}

/** A query or body value as one string (the first, when repeated). */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** A comma-separated or repeated value as a list. */
export function strList(v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

export function bodyOf(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

export function bearer(req: Request): string | undefined {
  const h = req.get('authorization') ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

/** The vendor call, as the ledger records it: `POST /crowdstrike/...?action_name=contain`. */
export function callOf(req: Request): string {
  return `${req.method} ${req.originalUrl}`;
}

/** The incident a connector names in its `X-Quell-Incident` header. */
export function incidentOf(req: Request): string | undefined {
  return req.get('x-quell-incident') ?? undefined;
}

/** {@link incidentOf} as a field to spread into an effect's details (absent when not named). */
export function incidentField(req: Request): { incidentId?: string } {
  const incidentId = incidentOf(req);
  return incidentId ? { incidentId } : {};
}

/** Answers an error in the vendor's own error shape. */
export function fail(
  res: Response,
  vendor: LabVendor,
  status: number,
  message: string,
  code?: string | number,
): void {
  switch (vendor) {
    case 'crowdstrike':
      res.status(status).json({
        meta: { query_time: 0.001, powered_by: 'quell-lab', trace_id: randomUUID() },
        resources: [],
        errors: [{ code: status, message }],
      });
      return;
    case 'defender':
    case 'graph':
      res
        .status(status)
        .json({ error: { code: code ?? 'Error', message, innerError: { 'request-id': randomUUID() } } });
      return;
    case 'azuread':
      res.status(status).json({ error: code ?? 'invalid_request', error_description: message });
      return;
    case 'okta':
      res.status(status).json({
        errorCode: code ?? 'E0000009',
        errorSummary: message,
        errorLink: code ?? 'E0000009',
        errorId: oktaErrorId(),
        errorCauses: [],
      });
      return;
    case 'cloudflare':
      res
        .status(status)
        .json({ success: false, errors: [{ code: code ?? status, message }], messages: [], result: null });
      return;
    case 'slack':
      res.status(status).json({ ok: false, error: code ?? message });
      return;
    case 'pagerduty':
      res.status(status).json({ status: code ?? 'error', message, errors: [message] });
      return;
    case 'jira':
      res.status(status).json({ errorMessages: [message], errors: {} });
      return;
    case 'servicenow':
      res.status(status).json({
        error: { message, detail: typeof code === 'string' ? code : null },
        status: 'failure',
      });
      return;
    case 'virustotal':
      res.status(status).json({ error: { code: code ?? 'Error', message } });
      return;
    case 'abuseipdb':
      res.status(status).json({
        errors: [
          { detail: message, status, ...(typeof code === 'string' ? { source: { parameter: code } } : {}) },
        ],
      });
      return;
  }
}

/** An Okta-style error ID (`oae` and 19 characters). */
export function oktaErrorId(): string {
  return `oae${randomUUID().replace(/-/g, '').slice(0, 19)}`;
}

/** Refuses requests whose bearer token the lab did not issue to `audience` (or has since expired), in the vendor's shape. */
export function requireIssuedToken(
  store: LabStore,
  audience: 'crowdstrike' | 'defender' | 'graph',
  message: string,
  code?: string,
): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    if (!store.tokenValid(bearer(req), audience)) {
      fail(res, audience, 401, message, code);
      return;
    }
    next();
  };
}
