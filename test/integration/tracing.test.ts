import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createApp } from '../../src/api/app';
import { loadAuthConfig } from '../../src/api/auth';
import { createConnectors } from '../../src/connectors/config';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { connectClient } from '../../src/temporal/connection';
import { freePort } from '../../src/temporal/dev-server';
import { startTracing, type Tracing } from '../../src/telemetry/tracing';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { testPlaybookYaml } from '../support/incident-harness';
import { testLogger } from '../support/logger';
import { waitFor } from '../support/processes';
import { spawnStart } from '../support/quell-process';
import { startTestWorker, testEndpoint, type TestWorker } from '../support/temporal';

// Everything automatic, and a short closure: the workflow ends, so its whole recorded history can be replayed.
const playbook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
  disable_account:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
eradication: { checklist: [] }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }
closure: { autoCloseAfter: 1s }`);

const INGEST_TOKEN = 'tracing-ingest-token-0123456789';
const auth = loadAuthConfig(
  { QUELL_API_TOKENS: JSON.stringify({ [INGEST_TOKEN]: { subject: 'siem-tracing', roles: ['ingest'] } }) },
  { production: false },
);

/** A loopback hop in front of the lab that notes what each vendor call carried in `traceparent`. */
async function traceparentRecorder(
  upstream: string,
): Promise<{ url: string; seen: { call: string; traceparent?: string }[]; stop(): Promise<void> }> {
  const seen: { call: string; traceparent?: string }[] = [];
  const target = new URL(upstream);
  const server = http.createServer((req, res) => {
    const traceparent = req.headers.traceparent;
    seen.push({
      call: `${req.method} ${req.url}`,
      ...(typeof traceparent === 'string' ? { traceparent } : {}),
    });
    const forward = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('tracing: one trace from POST /api/v1/alerts to the EDR call', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let lab: RunningLab;
  let recorder: Awaited<ReturnType<typeof traceparentRecorder>>;
  let dataDir: string;
  let worker: TestWorker;
  let client: Client;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    tracing = startTracing({
      serviceName: 'quell-test',
      exportTo: { spanProcessor: new SimpleSpanProcessor(exporter) },
    });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-tracing-'));
    lab = await startLabServer({ port: 0 });
    recorder = await traceparentRecorder(lab.url);
    const connectors = createConnectors({ QUELL_HTTP_TIMEOUT_MS: '2000' }, { dataDir, labUrl: recorder.url });
    worker = await startTestWorker({ activityDeps: { connectors }, tracing });
    client = await connectClient(testEndpoint(), { interceptors: tracing.clientInterceptors() });
    const playbooks = PlaybookRegistry.from([parsePlaybook(playbook, 'test-pb.yaml')]);
    app = createApp({
      client,
      incidents: new IncidentService(client, worker.taskQueue, playbooks),
      taskQueue: worker.taskQueue,
      logger: testLogger(),
      auth,
      tracer: tracing.tracer,
    });
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await recorder?.stop();
    await lab?.stop();
    await tracing?.shutdown();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('links the API request, the Temporal client call, the isolateHost activity and its EDR calls in one trace, which the lab receives', async () => {
    // The SIEM sends its own trace context: Quell's spans continue that trace.
    const callerTraceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const alert = genericAlert({ severity: 'critical' });
    const host = alert.hosts![0]!;
    await request(app)
      .post('/api/v1/alerts')
      .set('Authorization', `Bearer ${INGEST_TOKEN}`)
      .set('traceparent', `00-${callerTraceId}-${callerSpanId}-01`)
      .send(alert)
      .expect(202);

    await waitFor(
      async () => lab.store.findHost(host)?.status === 'contained',
      20_000,
      'the lab to isolate the host',
    );
    const spans = await waitFor(
      async () => {
        const all = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === callerTraceId);
        return all.some((s) => s.name === 'RunActivity:isolateHost') ? all : undefined;
      },
      10_000,
      'the isolateHost activity span',
    );

    const one = (name: string, kind: SpanKind) => {
      const found = spans.filter((s) => s.name === name && s.kind === kind);
      expect(found.map((s) => s.name)).toEqual([name]);
      return found[0]!;
    };
    const parentOf = (s: ReadableSpan) => s.parentSpanId;
    const server = one('POST /api/v1/alerts', SpanKind.SERVER);
    const start = one('UpdateWithStartWorkflow:ingestAlert', SpanKind.INTERNAL);
    const isolate = one('RunActivity:isolateHost', SpanKind.INTERNAL);
    const edrCalls = spans.filter(
      (s) => s.kind === SpanKind.CLIENT && parentOf(s) === isolate.spanContext().spanId,
    );

    expect(parentOf(server)).toBe(callerSpanId);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/alerts',
      'http.response.status_code': 202,
    });
    expect(parentOf(start)).toBe(server.spanContext().spanId);
    // The workflow carried the client call's context on to the activity it scheduled (workflows/trace-context.ts).
    expect(parentOf(isolate)).toBe(start.spanContext().spanId);
    // So did every other activity the alert led to (evidence, notifications, the account).
    const activities = spans.filter((s) => s.name.startsWith('RunActivity:'));
    expect(activities.length).toBeGreaterThan(1);
    expect(activities.filter((s) => parentOf(s) !== start.spanContext().spanId)).toEqual([]);
    expect(edrCalls.length).toBeGreaterThan(0);
    for (const call of edrCalls) {
      expect(call.name).toBe(`${String(call.attributes['http.request.method'])} crowdstrike`);
      expect(call.attributes).toMatchObject({
        'server.address': '127.0.0.1',
        'quell.connector.vendor': 'crowdstrike',
        'http.response.status_code': expect.any(Number),
      });
      // Method, vendor, operation, host and status only: no header, body or URL reaches the span.
      expect(Object.keys(call.attributes).sort()).toEqual([
        'http.request.method',
        'http.response.status_code',
        'quell.connector.operation',
        'quell.connector.vendor',
        'server.address',
        'server.port',
      ]);
    }
    expect(spans.every((s) => s.resource.attributes['service.name'] === 'quell-test')).toBe(true);

    // The EDR (the lab) received the trace: each isolateHost call carried its CLIENT span as the parent.
    const edrSpanIds = new Set(edrCalls.map((s) => s.spanContext().spanId));
    const received = recorder.seen
      .map((r) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(r.traceparent ?? ''))
      .filter((m): m is RegExpExecArray => m !== null && edrSpanIds.has(m[2]!));
    expect(received.length).toBe(edrCalls.length);
    expect(received.every((m) => m[1] === callerTraceId)).toBe(true);
  });

  it('a history recorded with tracing on replays on a worker without it (tracing can be switched off again)', async () => {
    const alert = genericAlert({ severity: 'critical' });
    const receipt = await request(app)
      .post('/api/v1/alerts')
      .set('Authorization', `Bearer ${INGEST_TOKEN}`)
      .send(alert)
      .expect(202);
    const handle = client.workflow.getHandle((receipt.body as { workflowId: string }).workflowId);
    await handle.result();
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: requireEnv(TEST_ENV.bundle) }, replayName: 'tracing-off' },
        await handle.fetchHistory(),
      ),
    ).resolves.toBeUndefined();
  });
});

describe('quell start with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('exports its spans over OTLP/HTTP (protobuf), flushing them when it stops', async () => {
    const exports: { path: string; contentType: string; body: Buffer }[] = [];
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        exports.push({
          path: req.url ?? '',
          contentType: req.headers['content-type'] ?? '',
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-tracing-start-'));
    try {
      const quell = await spawnStart({
        dataDir,
        cliPath: requireEnv(TEST_ENV.cliPath),
        apiPort: 0,
        temporalPort: await freePort(),
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl },
      });
      const traceId = randomBytes(16).toString('hex');
      try {
        expect(quell.output()).toContain(`Tracing:     OTLP to ${receiverUrl}/v1/traces as service "quell"`);
        await waitFor(
          async () => (await fetch(`${quell.apiUrl}/readyz`)).status === 200,
          30_000,
          'readiness',
        );
        const posted = await fetch(`${quell.apiUrl}/api/v1/alerts`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${quell.token('ingest')}`,
            traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
          },
          body: JSON.stringify(genericAlert()),
        });
        expect(posted.status).toBe(202);
        // The batch waits up to 5 s: nothing has been sent yet, so whatever arrives is the stop's doing.
        expect(exports).toEqual([]);
      } finally {
        quell.child.kill('SIGINT');
      }
      expect((await quell.exited).code).toBe(0);
      const traces = exports.filter((e) => e.path === '/v1/traces');
      expect(traces.length).toBeGreaterThan(0);
      expect(traces.every((e) => e.contentType === 'application/x-protobuf')).toBe(true);
      const body = Buffer.concat(traces.map((e) => e.body));
      // Protobuf carries the trace ID as its 16 raw bytes, and strings (names, attributes) as UTF-8.
      expect(body.includes(Buffer.from(traceId, 'hex'))).toBe(true);
      for (const text of [
        'POST /api/v1/alerts',
        'UpdateWithStartWorkflow:ingestAlert',
        'service.name',
        'quell',
      ])
        expect({ text, found: body.includes(Buffer.from(text)) }).toEqual({ text, found: true });
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
