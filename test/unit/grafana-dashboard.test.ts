import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Histogram } from 'prom-client';
import { createActivities } from '../../activities';
import { ApiMetrics } from '../../src/api/metrics';
import { FakeIncidents } from '../api/support/fake-incidents';

/**
 * What an operator importing deploy/grafana/quell-dashboard.json relies on: every query asks for a metric Quell
 * exports (the API's registry) or one of the SDK's temporal_* metrics a worker serves, so no panel goes blank
 * when a metric is renamed; the datasource is the input chosen at import.
 */

const dashboardPath = path.resolve(__dirname, '..', '..', 'deploy', 'grafana', 'quell-dashboard.json');

interface Target {
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
  templating: { list: { name: string; query: { query: string }; datasource?: { uid?: string } }[] };
}

const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const queryPanels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool']);
const PROMQL_WORDS_OPS = new Set(['and', 'or', 'unless', 'offset']);

/** The metric names a PromQL expression selects (not its functions, label names, label values or ranges). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values, e.g. route="/api/v1/alerts"
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  return [...bare.matchAll(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g)]
    .map((m) => m[0])
    .filter((w) => !PROMQL_WORDS.has(w) && !PROMQL_WORDS_OPS.has(w));
}

describe('deploy/grafana/quell-dashboard.json', () => {
  it('finds metric names in PromQL, and only those', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(quell_x_bucket{route="/a",status=~"5.."}[$__rate_interval])))',
      ),
    ).toEqual(['quell_x_bucket']);
    expect(metricNames('sum(rate(a_total[5m])) - sum without (format) (b_total) or vector(0)')).toEqual([
      'a_total',
      'b_total',
    ]);
  });

  it("queries only the quell_* metrics the API exports and the SDK's temporal_* worker metrics", async () => {
    const metrics = new ApiMetrics(new FakeIncidents(), { defaultMetrics: false });
    const exported = new Set<string>();
    for (const m of metrics.registry.getMetricsAsArray()) {
      const { name } = m;
      exported.add(name);
      // prom-client serves a histogram as its buckets, sum and count.
      if (m instanceof Histogram) for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
    }
    expect(exported).toContain('quell_incidents_open');

    const exprs = queryPanels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(10);
    const unknown = exprs.flatMap(({ panel, expr }) => {
      const names = metricNames(expr);
      if (names.length === 0) return [`${panel}: no metric in ${expr}`];
      return names
        .filter((n) => !exported.has(n) && !/^temporal_[a-z0-9_]+$/.test(n))
        .map((n) => `${panel}: ${n}`);
    });
    expect(unknown).toEqual([]);

    // Every panel the brief promised is there, over the metrics that carry it.
    const used = new Set(exprs.flatMap(({ expr }) => metricNames(expr)));
    for (const name of [
      'quell_http_requests_total',
      'quell_http_request_duration_seconds_bucket',
      'quell_alerts_ingested_total',
      'quell_alerts_deduplicated_total',
      'quell_incidents_open',
      'quell_approvals_decided_total',
      'quell_incident_gauge_errors_total',
      'temporal_worker_task_slots_available',
      'temporal_workflow_task_schedule_to_start_latency_bucket',
      'temporal_sticky_cache_size',
    ]) {
      expect(used).toContain(name);
    }
  });

  it('filters activities by the names the worker registers', () => {
    const activities = new Set(Object.keys(createActivities({})));
    const filtered = queryPanels
      .flatMap((p) => p.targets ?? [])
      .flatMap((t) => [...t.expr.matchAll(/activity_type=~?"([^"]+)"/g)].flatMap((m) => m[1]!.split('|')));
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.filter((a) => !activities.has(a))).toEqual([]);
  });

  it('reads from the Prometheus chosen at import (${DS_PROMETHEUS})', () => {
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    ]);
    const sources = [
      ...queryPanels.flatMap((p) => [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]),
      ...dashboard.templating.list.map((v) => v.datasource),
    ];
    expect(sources.filter((d) => d?.uid !== '${DS_PROMETHEUS}')).toEqual([]);
    for (const v of dashboard.templating.list) {
      const metric = /^label_values\((\w+),/.exec(v.query.query)?.[1];
      expect(metric).toMatch(/^temporal_/);
    }
  });
});
