import request from 'supertest';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { NormalizedAlert } from '../../src/domain/alert';
import { startTracing, type Tracing } from '../../src/telemetry/tracing';
import { FakeIncidents } from './support/fake-incidents';
import { bearer, testApp } from './support/harness';
import { sampleText } from './support/samples';

/** Notes the span that is active when the handler calls the incident service (the Temporal client's parent). */
class ContextRecordingIncidents extends FakeIncidents {
  activeSpanIds: (string | undefined)[] = [];
  override async ingestAlert(alert: NormalizedAlert, raisedBy: string) {
    this.activeSpanIds.push(trace.getActiveSpan()?.spanContext().spanId);
    return super.ingestAlert(alert, raisedBy);
  }
}

describe('API request spans', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  beforeAll(() => {
    tracing = startTracing({
      serviceName: 'quell-test',
      exportTo: { spanProcessor: new SimpleSpanProcessor(exporter) },
    });
  });
  afterAll(() => tracing.shutdown());
  beforeEach(() => exporter.reset());
  /** Spans end when the response closes, just after supertest has the answer. */
  const finished = async (count: number) => {
    for (let i = 0; i < 50 && exporter.getFinishedSpans().length < count; i++)
      await new Promise((r) => setTimeout(r, 10));
    return exporter.getFinishedSpans();
  };

  it('continues the caller trace in a SERVER span named by the route, the handler running inside it (after the body is read)', async () => {
    const incidents = new ContextRecordingIncidents();
    const { app } = testApp({ incidents, tracer: tracing.tracer });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await request(app)
      .post('/api/v1/alerts')
      .set('Authorization', bearer('ingest'))
      .set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`)
      .set('Content-Type', 'application/json')
      .send(sampleText('generic'))
      .expect(202);
    const [span] = await finished(1);
    expect(span).toMatchObject({
      name: 'POST /api/v1/alerts',
      kind: SpanKind.SERVER,
      parentSpanId: '00f067aa0ba902b7',
    });
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.attributes).toEqual({
      'http.request.method': 'POST',
      'http.route': '/api/v1/alerts',
      'http.response.status_code': 202,
    });
    expect(incidents.activeSpanIds).toEqual([span!.spanContext().spanId]);
  });

  it('marks a 5xx answer as an error, not a 4xx one; an unmatched path is named by its method alone', async () => {
    const incidents = new FakeIncidents();
    incidents.fail('ingestAlert', () => new Error('the incident service broke'));
    const { app } = testApp({ incidents, tracer: tracing.tracer });
    await request(app)
      .post('/api/v1/alerts')
      .set('Authorization', bearer('ingest'))
      .set('Content-Type', 'application/json')
      .send(sampleText('generic'))
      .expect(500);
    await request(app).get('/api/v1/incidents').expect(401);
    await request(app).get('/no/such/path').expect(404);
    const spans = await finished(3);
    expect(spans.map((s) => [s.name, s.attributes['http.response.status_code'], s.status.code])).toEqual([
      ['POST /api/v1/alerts', 500, SpanStatusCode.ERROR],
      ['GET /api/v1/incidents', 401, SpanStatusCode.UNSET],
      ['GET', 404, SpanStatusCode.UNSET],
    ]);
  });

  it('does not trace probes and scrapes, nor any request of an app built without a tracer', async () => {
    const { app } = testApp({ tracer: tracing.tracer });
    await request(app).get('/healthz').expect(200);
    const untraced = testApp().app;
    await request(untraced).get('/no/such/path').expect(404);
    expect(await finished(1)).toEqual([]);
  });
});
