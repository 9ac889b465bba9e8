import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES, type Phase } from '../domain/incident';
import type { IncidentOperations } from '../incidents/types';

/** Phases counted by the open-incidents gauge (closed incidents only grow; they are not a gauge). */
const OPEN_PHASES = PHASES.filter((p): p is Exclude<Phase, 'closed'> => p !== 'closed');
/** Scrapes within this window reuse the last count instead of asking Temporal again. */
export const INCIDENT_GAUGE_TTL_MS = 15_000;

/**
 * The API's Prometheus metrics, in a registry of its own (never prom-client's global one, so several apps in one
 * process, as in tests, do not collide):
 * - `quell_http_request_duration_seconds{method,route,status}` (histogram; its `_count` is requests by route
 *   template and status) and `quell_http_requests_total{method,route,status}`;
 * - `quell_alerts_ingested_total{format}`, `quell_alerts_deduplicated_total{format}`;
 * - `quell_approvals_decided_total{decision}`;
 * - `quell_incidents_open{phase}`: counted on scrape through `IncidentOperations.countOpen` (Temporal's
 *   CountWorkflowExecutions, one call per phase, exact whatever the number), cached for 15 s. Phase changes
 *   happen inside workflows, which the API does not see, so counting on scrape is the only truthful source; if
 *   Temporal is unreachable the last values stay and `quell_incident_gauge_errors_total` counts the failure;
 * - Node process metrics (prom-client defaults).
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly alertsIngested: Counter<'format'>;
  readonly alertsDeduplicated: Counter<'format'>;
  readonly approvalsDecided: Counter<'decision'>;
  readonly incidentsOpen: Gauge<'phase'>;
  readonly gaugeErrors: Counter;
  private cached?: { at: number; counts: Map<string, number> };
  private inflight?: Promise<Map<string, number> | undefined>;

  constructor(incidents: IncidentOperations, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpDuration = new Histogram({
      name: 'quell_http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'quell_http_requests_total',
      help: 'HTTP requests by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.alertsIngested = new Counter({
      name: 'quell_alerts_ingested_total',
      help: 'Alerts recorded on incidents (including redeliveries), by source format.',
      labelNames: ['format'],
      registers,
    });
    this.alertsDeduplicated = new Counter({
      name: 'quell_alerts_deduplicated_total',
      help: 'Alerts that were redeliveries of an alert already recorded, by source format.',
      labelNames: ['format'],
      registers,
    });
    this.approvalsDecided = new Counter({
      name: 'quell_approvals_decided_total',
      help: 'Approval decisions accepted, by decision.',
      labelNames: ['decision'],
      registers,
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    // Both collect through one shared attempt per scrape (prom-client collects metrics in parallel).
    this.gaugeErrors = new Counter({
      name: 'quell_incident_gauge_errors_total',
      help: 'Scrapes where counting open incidents failed (the previous values were kept).',
      registers,
      async collect() {
        await self.refresh(incidents);
      },
    });
    this.incidentsOpen = new Gauge({
      name: 'quell_incidents_open',
      help: 'Open incidents by phase (counted by Temporal on scrape, cached 15 s).',
      labelNames: ['phase'],
      registers,
      async collect() {
        const counts = await self.refresh(incidents);
        if (!counts) return;
        for (const phase of OPEN_PHASES) this.set({ phase }, counts.get(phase) ?? 0);
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts open incidents per phase (cached; one attempt shared by concurrent callers). Undefined on failure. */
  private refresh(incidents: IncidentOperations): Promise<Map<string, number> | undefined> {
    if (this.cached && Date.now() - this.cached.at < INCIDENT_GAUGE_TTL_MS)
      return Promise.resolve(this.cached.counts);
    this.inflight ??= (async () => {
      try {
        const counts = new Map<string, number>();
        await Promise.all(
          OPEN_PHASES.map(async (phase) => counts.set(phase, await incidents.countOpen({ phase }))),
        );
        this.cached = { at: Date.now(), counts };
        return counts;
      } catch {
        this.gaugeErrors.inc();
        return undefined;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
