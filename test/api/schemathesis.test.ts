import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { AuthConfig } from '../../src/api/auth';
import { loadApiSettings } from '../../src/api/rate-limit';
import { createApiServer } from '../../src/api/server';
import { createAuditService } from '../../src/audit/service';
import { IncidentService } from '../../src/incidents/service';
import { loadConfig } from '../../src/config';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { provisionTemporal, type ProvisionedTemporal } from '../../src/temporal/provision';
import { testLogger } from '../support/logger';
import { MemoryEstate } from '../support/memory-estate';
import { startTestWorker, testClient, type TestWorker } from '../support/temporal';
import { bearer, testApp } from './support/harness';
import { sample, toDotted } from './support/samples';

/**
 * An independent check of the OpenAPI document: schemathesis (Python) reads /api/v1/openapi.json, generates
 * requests from it (valid and invalid) and checks every answer against the document with all its checks. The API
 * is the real one: IncidentService and the audit service over the test Temporal server, a real worker, the HTTP
 * server `quell start` runs. Any failure fails this test with schemathesis's own report.
 *
 * Schemathesis lives in a project-local venv (`.ci/run` installs it; nothing is downloaded here). Without it the
 * test is skipped, saying how to install it. QUELL_SCHEMATHESIS_VENV points at another venv.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const VENV = process.env.QUELL_SCHEMATHESIS_VENV ?? path.join(ROOT, '.cache', 'schemathesis-venv');
const ST = path.join(VENV, 'bin', 'st');
const PYTHON = path.join(VENV, 'bin', 'python');
const CONFIG = path.join(__dirname, 'schemathesis.toml');
const installed = existsSync(ST);
if (!installed) {
  console.warn(
    `Skipping the schemathesis run: ${ST} does not exist. Install it (as .ci/run does) with:\n` +
      `  python3 -m venv ${VENV} && ${VENV}/bin/pip install schemathesis==4.32.5`,
  );
}

const ADMIN_TOKEN = 'schemathesis-admin-token-0123456789abcdef';
/**
 * The run is bounded by examples per operation, not by `--max-time` (with a time budget schemathesis repeats
 * its phases until the budget is spent): about 40 s alone, longer while other suites load the same Temporal
 * server. This is only the kill switch for a hung run.
 */
const KILL_AFTER_SECONDS = 300;

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
  input?: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const suite = installed ? describe : describe.skip;

suite('the documented alert body, checked by an independent JSON Schema validator', () => {
  const { app } = testApp();
  const ocsf = (over: Record<string, unknown>) => ({ ...sample('ocsf'), ...over });
  const elastic = () => sample('elastic');
  const alertmanager = (mutate: (body: Record<string, unknown>) => void) => {
    const body = sample('alertmanager');
    mutate(body);
    return body;
  };
  const CASES: [string, unknown][] = [
    ['{}', {}],
    ['OCSF, activity 0 with type_uid 200400', ocsf({ activity_id: 0, type_uid: 200400 })],
    ['OCSF, activity 0 with type_uid 200401', ocsf({ activity_id: 0, type_uid: 200401 })],
    ['OCSF, activity 3 with type_uid 200403', ocsf({ activity_id: 3, type_uid: 200403 })],
    ['OCSF, activity 4', ocsf({ activity_id: 4, type_uid: 200404 })],
    ['OCSF, severity_id 7', ocsf({ severity_id: 7 })],
    ['OCSF, named by vendor only', ocsf({ metadata: { product: { vendor_name: 'Acme' } } })],
    ['OCSF, no product name', ocsf({ metadata: { product: {} } })],
    ['OCSF, blank finding uid', ocsf({ finding_info: { ...sample('ocsf').finding_info, uid: ' \u00a0' } })],
    ['Elastic, nested', elastic()],
    ['Elastic, dotted', toDotted(elastic())],
    [
      'Elastic, nested Kibana fields and dotted ECS ones',
      { ...elastic(), user: undefined, 'user.name': 'm.chen' },
    ],
    ['Elastic, a dotted entity that is not an IP', { ...elastic(), source: undefined, 'source.ip': 'nope' }],
    [
      'Elastic, a field as a one-element array',
      toDotted({ ...elastic(), '@timestamp': ['2026-11-28T10:03:41Z'] }),
    ],
    ['Elastic, null where a field is optional', { ...elastic(), user: { name: null } }],
    ['Elastic, the rule name in two layouts', { ...elastic(), 'kibana.alert.rule.name': 'identity.other' }],
    [
      'Elastic, two severities, one invalid',
      { ...toDotted(elastic()), 'kibana.alert.severity': ['high', 'bad'] },
    ],
    ['Elastic, only event.kind', { event: { kind: 'signal' } }],
    ['Elastic, no uuid', { ...elastic(), kibana: { alert: { ...elastic().kibana.alert, uuid: undefined } } }],
    ['Elastic, blank rule name', toDotted({ ...toDotted(elastic()), 'kibana.alert.rule.name': '\t' })],
    [
      'Elastic, no severity or risk score',
      toDotted({
        ...toDotted(elastic()),
        'kibana.alert.severity': undefined,
        'kibana.alert.risk_score': undefined,
      }),
    ],
    ['Elastic, risk score only', toDotted({ ...toDotted(elastic()), 'kibana.alert.severity': undefined })],
    ['generic', sample('generic')],
    ['generic, blank title', { ...sample('generic'), title: ' \t\n' }],
    ['generic, title with spaces around', { ...sample('generic'), title: '  Ransomware  ' }],
    ['generic, unknown field', { ...sample('generic'), hostz: ['x'] }],
    ['Alertmanager', sample('alertmanager')],
    ['Alertmanager, 200 common labels', alertmanager((b) => (b.commonLabels = labels(200)))],
    ['Alertmanager, 201 common labels', alertmanager((b) => (b.commonLabels = labels(201)))],
    ['Alertmanager, blank receiver', alertmanager((b) => (b.receiver = ' '))],
  ];
  function labels(n: number): Record<string, string> {
    return Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, 'v']));
  }

  it('accepts exactly the bodies the API accepts', async () => {
    const docPath = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'quell-openapi-')), 'openapi.json');
    const docRes = await request(app).get('/api/v1/openapi.json').expect(200);
    await fs.writeFile(docPath, JSON.stringify(docRes.body));
    const bodies = CASES.map(([, body]) => JSON.parse(JSON.stringify(body)) as unknown);
    const { code, output } = await run(
      PYTHON,
      [
        path.join(__dirname, 'support', 'schema_verdicts.py'),
        docPath,
        '#/paths/~1api~1v1~1alerts/post/requestBody/content/application~1json/schema',
      ],
      30_000,
      JSON.stringify(bodies),
    );
    if (code !== 0) throw new Error(`schema_verdicts.py exited with ${code}:\n${output}`);
    const documented = JSON.parse(output) as boolean[];
    const answered: boolean[] = [];
    for (const body of bodies) {
      const res = await request(app)
        .post('/api/v1/alerts')
        .set('Authorization', bearer('ingest'))
        .send(body as object);
      expect([202, 400, 422]).toContain(res.status);
      answered.push(res.status === 202);
    }
    const verdicts = (of: boolean[]) => Object.fromEntries(CASES.map(([name], i) => [name, of[i]]));
    expect(verdicts(documented)).toEqual(verdicts(answered));
    // Not vacuous: both sides accept some and refuse some.
    expect(new Set(answered)).toEqual(new Set([true, false]));
  });
});

suite('schemathesis against the real API', () => {
  let temporal: ProvisionedTemporal;
  let worker: TestWorker;
  let client: Client;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    // A dev server of its own, started like the global one: suites that flood the shared server (1,000-alert
    // storms) slow it until the API rightly answers 503, and this test is about the document, not about load.
    const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-schemathesis-'));
    const { TEMPORAL_ADDRESS: _cluster, ...env } = process.env;
    temporal = await provisionTemporal(loadConfig({ ...env, QUELL_DATA_DIR: runDir }), {
      embeddedOverrides: {
        port: 0,
        headless: true,
        dbFile: null,
        logFile: path.join(runDir, 'temporal-server.log'),
        extraArgs: ['--sqlite-pragma', 'synchronous=OFF'],
      },
    });
    const endpoint = { address: temporal.address, namespace: temporal.namespace };
    worker = await startTestWorker({
      endpoint,
      activityDeps: { connectors: new MemoryEstate().connectors() },
    });
    client = await testClient(endpoint);
    const logger = testLogger();
    const playbooks = await loadPlaybooks(path.join(ROOT, 'playbooks'));
    const settings = loadApiSettings({});
    const app = createApp({
      client,
      incidents: new IncidentService(client, worker.taskQueue, playbooks, logger),
      taskQueue: worker.taskQueue,
      logger,
      auth: new AuthConfig({ tokens: { [ADMIN_TOKEN]: { subject: 'schemathesis', roles: ['admin'] } } }),
      audit: createAuditService(client),
      bodyLimit: settings.bodyLimit,
      // Off: whether a request is rate limited would depend on timing, and the run must be deterministic.
      rateLimit: false,
      // Slack approvals on, so the fuzzer reaches the signature check (nobody is mapped; nothing is posted).
      slack: {
        signingSecret: 'schemathesis-slack-signing-secret',
        users: new Map(),
        responseUrlAllowList: [],
      },
    });
    server = createApiServer(app, settings.http);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    await worker?.stop();
    await client?.connection.close();
    await temporal?.stop();
  });

  it(
    'finds no server error and no answer that contradicts the document',
    async () => {
      const started = Date.now();
      const { code, output } = await run(
        ST,
        [
          '--config-file',
          CONFIG,
          'run',
          `${baseUrl}/api/v1/openapi.json`,
          '--checks',
          'all',
          '--header',
          `Authorization: Bearer ${ADMIN_TOKEN}`,
          // 50 examples per operation and phase: about a minute here, well inside CI's time.
          '--max-examples',
          '50',
          // Same cases on every run (no seed is needed, nor used, in this mode).
          '--generation-deterministic',
          // One worker: with two, Hypothesis's ast.parse calls (describing strategies) race on Python 3.11
          // ("AST constructor recursion depth mismatch").
          '--workers',
          '1',
          // Alert intake retries while other suites keep the shared Temporal server busy; the default 10 s
          // would report those slow answers as network errors.
          '--request-timeout',
          '30',
          '--no-color',
        ],
        KILL_AFTER_SECONDS * 1000,
      );
      console.log(`schemathesis finished in ${Math.round((Date.now() - started) / 1000)} s`);
      if (code !== 0) throw new Error(`schemathesis exited with ${code}:\n${output}`);
    },
    (KILL_AFTER_SECONDS + 15) * 1000,
  );
});
