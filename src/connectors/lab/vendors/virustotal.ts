import express, { type Router } from 'express';
import { fail, locals } from '../http';
import { type LabIndicatorKind, wellFormed } from '../estate/indicators';
import type { LabStore } from '../store';

/** The API collections and the object type each answers with. */
const COLLECTIONS: Record<string, { kind: LabIndicatorKind; type: string; what: string }> = {
  ip_addresses: { kind: 'ip', type: 'ip_address', what: 'IP address' },
  domains: { kind: 'domain', type: 'domain', what: 'Domain' },
  files: { kind: 'file', type: 'file', what: 'File' },
};

/**
 * The lab's VirusTotal API v3 (docs.virustotal.com, "IP addresses", "Domains", "Files", "Errors"):
 * `GET /api/v3/{ip_addresses|domains|files}/{id}` with `x-apikey`. Known indicators answer their object
 * with `last_analysis_stats` and `reputation`; unknown ones 404 NotFoundError; a malformed ID 400
 * InvalidArgumentError; a missing key 401 AuthenticationRequiredError, a wrong one 401 WrongCredentialsError.
 */
export function virustotalRouter(store: LabStore): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    const key = req.get('x-apikey');
    if (!key) {
      fail(res, 'virustotal', 401, 'X-Apikey header is missing', 'AuthenticationRequiredError');
      return;
    }
    if (key !== store.credentials.virustotal.apiKey || locals(res).authExpired) {
      fail(res, 'virustotal', 401, 'Wrong API key', 'WrongCredentialsError');
      return;
    }
    next();
  });
  r.get('/api/v3/:collection/:id', (req, res) => {
    const c = COLLECTIONS[req.params.collection];
    if (!c) {
      fail(res, 'virustotal', 404, `Resource not found: ${req.params.collection}`, 'NotFoundError');
      return;
    }
    const id = req.params.id.toLowerCase();
    if (!wellFormed(c.kind, id)) {
      fail(
        res,
        'virustotal',
        400,
        `${JSON.stringify(req.params.id)} is not a valid ${c.what.toLowerCase()}`,
        'InvalidArgumentError',
      );
      return;
    }
    const view = store.findIndicator(c.kind, id);
    if (!view?.virustotal) {
      fail(res, 'virustotal', 404, `${c.what} "${req.params.id}" not found`, 'NotFoundError');
      return;
    }
    const { reputation, ...stats } = view.virustotal;
    const objectId = c.kind === 'file' ? view.value : id;
    res.json({
      data: {
        id: objectId,
        type: c.type,
        links: {
          self: `${req.protocol}://${req.get('host') ?? 'lab'}${req.baseUrl}/api/v3/${req.params.collection}/${objectId}`,
        },
        attributes: {
          last_analysis_date: Math.floor(store.now() / 1000) - 3_600,
          last_analysis_stats: { ...stats, timeout: 0 },
          reputation,
          total_votes: {
            harmless: reputation > 0 ? reputation : 0,
            malicious: reputation < 0 ? -reputation : 0,
          },
        },
      },
    });
  });
  return r;
}
