import express, { type Router } from 'express';
import { LAB_PREFIXES } from './credentials';
import { bodyOf, str } from './http';
import { labLogLines } from './logs';
import { LAB_ACCOUNT_STATUSES, type LabAccountStatus } from './estate/accounts';
import { LAB_ACTION_OUTCOMES, type LabActionOutcome } from './estate/hosts';
import type { LabFaultInput } from './estate/fault-rules';
import type { LabIndicatorInput } from './estate/indicators';
import type { LabStore } from './store';

const ACCOUNT_STATUSES = new Set<LabAccountStatus>(LAB_ACCOUNT_STATUSES);

/** What the lab shows: its index, health, the whole state, the ledger and the vendor calls. */
function inspectionRoutes(r: Router, store: LabStore): void {
  r.get('/', (_req, res) => {
    res.json({
      lab: 'Quell lab estate',
      vendors: LAB_PREFIXES,
      endpoints: [
        'GET /lab/state',
        'GET /lab/ledger?vendor=&target=&effect=&incidentId=',
        'GET /lab/calls?vendor=&method=&pathIncludes=',
        'GET|POST|DELETE /lab/faults, DELETE /lab/faults/:id',
        'GET /lab/logs/:host?from=&to=',
        'POST /lab/hosts {name, platform}',
        'POST /lab/hosts/:name/next-action-outcome {outcome: Failed|TimeOut|Cancelled|null}',
        'POST /lab/accounts/:login/status {status}',
        'GET /lab/intel/indicators, POST /lab/intel/indicators {kind, value, aliases?, virustotal?, abuseipdb?}',
      ],
    });
  });
  r.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  r.get('/state', (_req, res) => {
    res.json(store.snapshot());
  });
  r.get('/ledger', (req, res) => {
    res.json({
      entries: store.ledger({
        vendor: str(req.query.vendor),
        target: str(req.query.target),
        effect: str(req.query.effect),
        incidentId: str(req.query.incidentId),
      }),
    });
  });
  r.get('/calls', (req, res) => {
    res.json({
      calls: store.calls({
        vendor: str(req.query.vendor),
        method: str(req.query.method),
        pathIncludes: str(req.query.pathIncludes),
      }),
    });
  });
}

/** Fault rules: one rule, an array, or `{ rules: [...] }`; validated by the store. */
function faultRoutes(r: Router, store: LabStore): void {
  r.get('/faults', (_req, res) => {
    res.json({ rules: store.faults() });
  });
  r.post('/faults', (req, res) => {
    const b: unknown = req.body;
    const inputs: unknown[] = Array.isArray(b)
      ? b
      : b && typeof b === 'object' && Array.isArray((b as { rules?: unknown }).rules)
        ? (b as { rules: unknown[] }).rules
        : [b];
    try {
      const rules = inputs.map((i) => {
        if (!i || typeof i !== 'object') throw new Error('a fault rule must be an object');
        return store.addFault(i as LabFaultInput);
      });
      res.status(201).json({ rules });
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.delete('/faults', (_req, res) => {
    store.clearFaults();
    res.status(204).end();
  });
  r.delete('/faults/:id', (req, res) => {
    res.status(store.removeFault(req.params.id) ? 204 : 404).end();
  });
}

/** The estate set up by hand (hosts, account states, intelligence indicators) and the hosts' synthetic logs. */
function estateRoutes(r: Router, store: LabStore): void {
  r.post('/hosts', (req, res) => {
    const b = bodyOf(req);
    try {
      const h = store.addHost(String(b.name), b.platform === 'Linux' ? 'Linux' : 'Windows');
      res.status(201).json({ name: h.name, deviceId: h.deviceId, machineId: h.machineId, status: h.status });
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.post('/hosts/:name/next-action-outcome', (req, res) => {
    const outcome = bodyOf(req).outcome as LabActionOutcome | null | undefined;
    if (outcome != null && !LAB_ACTION_OUTCOMES.includes(outcome)) {
      res.status(400).json({ error: `outcome must be one of ${LAB_ACTION_OUTCOMES.join(', ')} or null` });
      return;
    }
    const h = store.findHost(req.params.name);
    if (!h) {
      res.status(404).json({ error: `unknown host ${req.params.name}` });
      return;
    }
    store.setNextActionOutcome(h, outcome ?? undefined);
    res.json({ name: h.name, nextActionOutcome: outcome ?? null });
  });
  r.post('/accounts/:login/status', (req, res) => {
    const status = bodyOf(req).status as LabAccountStatus;
    if (!ACCOUNT_STATUSES.has(status)) {
      res.status(400).json({ error: `status must be one of ${[...ACCOUNT_STATUSES].join(', ')}` });
      return;
    }
    try {
      const a = store.setAccountStatus(req.params.login, status);
      res.json({ login: a.login, status: a.status });
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.get('/intel/indicators', (_req, res) => {
    res.json({ indicators: store.indicators() });
  });
  r.post('/intel/indicators', (req, res) => {
    try {
      res.status(201).json(store.addIndicator(bodyOf(req) as unknown as LabIndicatorInput));
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.get('/logs/:host', (req, res) => {
    const host = req.params.host;
    const from = Date.parse(str(req.query.from) ?? '');
    const to = Date.parse(str(req.query.to) ?? '');
    if (Number.isNaN(from) || Number.isNaN(to) || from > to) {
      res.status(400).json({ error: 'from and to must be ISO-8601 timestamps with from <= to' });
      return;
    }
    const h = store.findHost(host);
    if (!h) {
      res.status(404).json({ error: `unknown host ${host}` });
      return;
    }
    const lines = labLogLines(h.name, from, to);
    res.type('text/plain; charset=utf-8').send(lines.length ? `${lines.join('\n')}\n` : '');
  });
}

/** The lab's own control plane, under `/lab`: state, ledger, calls, faults, hosts, accounts, logs. */
export function labRouter(store: LabStore): Router {
  const r = express.Router();
  inspectionRoutes(r, store);
  faultRoutes(r, store);
  estateRoutes(r, store);
  return r;
}
