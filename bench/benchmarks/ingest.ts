/**
 * Alert ingest: autocannon against `POST /api/v1/alerts` on Quell's real API (bearer token, rate limiter,
 * JSON parsing, normalisation, playbook choice, update-with-start and the workflow's answer) with dedup hits
 * (the same alert again and again: one incident, every request an update on it) and misses (a unique alert
 * per request: a new incident each), against a bare express handler that only parses JSON and answers 202.
 *
 * The alerts use the bench-ingest playbook (no containment, no notices, no evidence), so the figures are
 * intake, not the estate. autocannon runs in a worker thread, so its own event loop does not share the API's.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express from 'express';
import type { BenchEnv } from '../lib/env';
import { postJson } from '../lib/http';
import { say } from '../lib/progress';

export interface IngestFigures {
  target: string;
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function cannon(
  label: string,
  opts: {
    url: string;
    body: string;
    headers: Record<string, string>;
    seconds: number;
    connections: number;
    ids: boolean;
  },
): Promise<autocannon.Result> {
  const started = Date.now();
  const timer = setInterval(
    () => say(`  ingest ${label}: ${Math.round((Date.now() - started) / 1000)}/${opts.seconds} s`),
    5_000,
  );
  try {
    return await autocannon({
      url: opts.url,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body: opts.body,
      idReplacement: opts.ids,
      connections: opts.connections,
      duration: opts.seconds,
      workers: 1,
    });
  } finally {
    clearInterval(timer);
  }
}

function figures(target: string, r: autocannon.Result): IngestFigures {
  return {
    target,
    connections: r.connections,
    seconds: r.duration,
    requests: r['2xx'] + r.non2xx,
    requestsPerSecond: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

export async function runIngest(
  env: BenchEnv,
  opts: { seconds: number; warmupSeconds: number; connections: number },
): Promise<IngestFigures[]> {
  // The bare handler: express, its JSON parser with Quell's body limit, 202.
  const bare = express();
  bare.disable('x-powered-by');
  bare.post('/api/v1/alerts', express.json({ limit: '1mb' }), (_req, res) => {
    res.status(202).json({ accepted: true });
  });
  const server = http.createServer(bare);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/alerts`;
  const quellUrl = `${env.apiUrl}/api/v1/alerts`;
  const auth = { authorization: `Bearer ${env.ingestToken}` };
  const alert = (id: string, domain: string) =>
    JSON.stringify({
      source: 'bench-ingest',
      id,
      title: `Bench ingest: beaconing to ${domain}`,
      rule: 'bench.ingest.beacon',
      type: 'c2',
      severity: 'medium',
      domains: [domain],
    });
  const dedupBody = alert(`dedup-${env.tag}`, `dedup-${env.tag}.bench.test`);
  // The incident the dedup hits land on exists before the clock starts.
  const first = await postJson(quellUrl, dedupBody, auth, new http.Agent());
  if (first.status !== 202) throw new Error(`ingest setup: expected 202, got ${first.status}: ${first.body}`);

  const runs: {
    label: string;
    target: string;
    url: string;
    body: string;
    headers: Record<string, string>;
    ids: boolean;
  }[] = [
    {
      label: 'bare',
      target: 'bare express (parse JSON, 202)',
      url: bareUrl,
      body: alert('bare-1', 'bare.bench.test'),
      headers: {},
      ids: false,
    },
    {
      label: 'dedup',
      target: 'Quell, dedup hits (same alert)',
      url: quellUrl,
      body: dedupBody,
      headers: auth,
      ids: false,
    },
    {
      label: 'miss',
      target: 'Quell, misses (unique alerts)',
      url: quellUrl,
      body: alert(`miss-${env.tag}-[<id>]`, `m-[<id>].${env.tag}.bench.test`),
      headers: auth,
      ids: true,
    },
  ];
  const out: IngestFigures[] = [];
  try {
    for (const run of runs) {
      say(
        `  ingest ${run.label}: warm-up ${opts.warmupSeconds} s, then ${opts.seconds} s with ${opts.connections} connections`,
      );
      await cannon(`${run.label} (warm-up)`, {
        ...run,
        seconds: opts.warmupSeconds,
        connections: opts.connections,
      });
      const r = await cannon(run.label, { ...run, seconds: opts.seconds, connections: opts.connections });
      const f = figures(run.target, r);
      say(
        `  ingest ${run.label}: ${f.requestsPerSecond.toFixed(0)} req/s, p99 ${f.p99} ms, ` +
          `${f.non2xx} non-2xx, ${f.errors} errors`,
      );
      out.push(f);
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  }
  return out;
}
