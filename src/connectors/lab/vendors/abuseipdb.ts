import net from 'node:net';
import express, { type Router } from 'express';
import { fail, locals, str } from '../http';
import type { LabStore } from '../store';

/**
 * The lab's AbuseIPDB API v2 (docs.abuseipdb.com, "CHECK Endpoint", "Error Handling"):
 * `GET /api/v2/check?ipAddress=&maxAgeInDays=` with `Key`. Every valid address is answered (an unknown one as
 * never reported); a malformed parameter is a 422 naming it; a missing or wrong key a 401.
 */
export function abuseipdbRouter(store: LabStore): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    if (req.get('key') !== store.credentials.abuseipdb.apiKey || locals(res).authExpired) {
      fail(res, 'abuseipdb', 401, 'Authentication failed: the API key is missing, wrong or revoked.');
      return;
    }
    next();
  });
  r.get('/api/v2/check', (req, res) => {
    const ip = (str(req.query.ipAddress) ?? '').trim().toLowerCase();
    const family = net.isIP(ip);
    if (!family) {
      fail(res, 'abuseipdb', 422, 'The ipAddress must be a valid IPv4 or IPv6 address.', 'ipAddress');
      return;
    }
    const maxAge = str(req.query.maxAgeInDays);
    if (maxAge !== undefined && !(/^\d+$/.test(maxAge) && Number(maxAge) >= 1 && Number(maxAge) <= 365)) {
      fail(res, 'abuseipdb', 422, 'The maxAgeInDays must be an integer between 1 and 365.', 'maxAgeInDays');
      return;
    }
    const view = store.findIndicator('ip', ip)?.abuseipdb;
    res.json({
      data: {
        ipAddress: ip,
        isPublic: true,
        ipVersion: family,
        isWhitelisted: view?.isWhitelisted ?? false,
        abuseConfidenceScore: view?.abuseConfidenceScore ?? 0,
        countryCode: view?.countryCode ?? null,
        usageType: null,
        isp: 'Quell lab',
        domain: null,
        hostnames: [],
        isTor: false,
        totalReports: view?.totalReports ?? 0,
        numDistinctUsers: view?.numDistinctUsers ?? 0,
        lastReportedAt: view?.lastReportedAt ?? null,
      },
    });
  });
  return r;
}
