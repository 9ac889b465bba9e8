import type { NormalizedAlert } from '../../src/domain/alert';
import {
  detectAlertFormat,
  normalizeAlertBody,
  type AlertFormat,
  type NormalizeOutcome,
} from '../../src/ingest';
import { severityFromRiskScore } from '../../src/ingest/elastic';
import { stripPort, typeFromAttack } from '../../src/ingest/common';
import { ocsfSeverity } from '../../src/ingest/ocsf';
import { fieldErrors } from '../../src/api/problem';
import { matchingPlaybooks, sample, toDotted } from './support/samples';

const RECEIVED = '2026-11-28T12:00:00.000Z';

function ok(body: unknown, format: AlertFormat): NormalizedAlert[] {
  const r = normalizeAlertBody(body, format, RECEIVED);
  if (!r.ok) throw new Error(`expected success, got ${JSON.stringify(fieldErrors(r.error))}`);
  return r.alerts;
}
function one(body: unknown, format: AlertFormat): NormalizedAlert {
  const alerts = ok(body, format);
  expect(alerts).toHaveLength(1);
  return alerts[0]!;
}
function errorPaths(r: NormalizeOutcome): string[] {
  if (r.ok) throw new Error('expected a validation failure');
  return fieldErrors(r.error, r.pathPrefix ?? '').map((e) => e.path);
}
const fail = (body: unknown, format: AlertFormat) => errorPaths(normalizeAlertBody(body, format, RECEIVED));

describe('sample payloads', () => {
  it('OCSF C2 sample: a c2 alert to an external IP, matching the c2 playbook', () => {
    const a = one(sample('ocsf'), 'ocsf');
    expect(a).toMatchObject({
      source: 'NetSentry NDR',
      sourceAlertId: 'ndr-finding-20261128-000417',
      format: 'ocsf',
      ruleName: 'network.c2.beacon_to_rare_external_ip',
      type: 'c2',
      severity: 'high',
      detectedAt: '2026-11-28T09:12:07.000Z',
      receivedAt: RECEIVED,
      entities: {
        hosts: ['ws-eng-117'],
        accounts: ['a.kowalski'],
        ips: ['10.20.4.117', '203.0.113.66'],
        domains: ['telemetry-sync.example.net'],
      },
    });
    expect(a.firstSeenAt).toBe('2026-11-28T08:41:55.000Z');
    expect(a.resolved).toBeUndefined();
    expect(matchingPlaybooks(a)).toEqual(['c2']);
  });

  it('Elastic sample: an account-compromise alert matching the compromised-account playbook', () => {
    const a = one(sample('elastic'), 'elastic');
    expect(a).toMatchObject({
      source: 'elastic-security',
      format: 'elastic',
      ruleName: 'identity.okta.impossible_travel',
      type: 'account_compromise',
      severity: 'high',
      detectedAt: '2026-11-28T10:03:41.512Z',
      entities: { hosts: [], accounts: ['m.chen'], ips: ['198.51.100.23'], domains: [] },
    });
    expect(a.firstSeenAt).toBe('2026-11-28T09:58:12.000Z');
    expect(matchingPlaybooks(a)).toEqual(['compromised-account']);
  });

  it('Alertmanager sample: one alert per entry, matching c2 and ransomware', () => {
    const alerts = ok(sample('alertmanager'), 'alertmanager');
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({
      source: 'alertmanager/quell-secops',
      sourceAlertId: '7c2a1f0e9d8b6c54@2026-11-28T11:20:30.123Z',
      ruleName: 'network.c2.dns_beaconing',
      title: 'DNS beaconing from build-runner-07 to cdn-metrics.example.org',
      type: 'c2',
      severity: 'critical',
      detectedAt: '2026-11-28T11:20:30.123Z',
      entities: {
        hosts: ['build-runner-07'],
        accounts: [],
        ips: ['192.0.2.144'],
        domains: ['cdn-metrics.example.org'],
      },
    });
    expect(alerts[1]).toMatchObject({
      ruleName: 'ransomware.canary_file_modified',
      severity: 'critical', // "page"
      entities: { hosts: ['fs-share-02'], accounts: ['svc-backup'] },
    });
    expect(alerts.map((a) => matchingPlaybooks(a))).toEqual([['c2'], ['ransomware']]);
  });

  it('generic sample: ransomware', () => {
    const a = one(sample('generic'), 'generic');
    expect(a).toMatchObject({ source: 'edr-lab', sourceAlertId: 'det-0001', type: 'ransomware' });
    expect(matchingPlaybooks(a)).toEqual(['ransomware']);
  });
});

describe('format detection', () => {
  it.each(['ocsf', 'elastic', 'alertmanager', 'generic'] as const)('detects the %s sample', (format) => {
    expect(detectAlertFormat(sample(format))).toBe(format);
  });

  it('detects a flat (dotted-key) Elastic document', () => {
    expect(detectAlertFormat(toDotted(sample('elastic')))).toBe('elastic');
    expect(detectAlertFormat({ 'event.kind': 'signal' })).toBe('elastic');
  });

  it.each([[null], [[]], ['text'], [42], [{}], [{ hello: 'world' }], [{ version: '4' }], [{ alerts: [] }]])(
    'finds no format in %j',
    (body) => {
      expect(detectAlertFormat(body)).toBeUndefined();
    },
  );

  it('detects loosely, then the schema names what is wrong', () => {
    const body = { ...sample('ocsf'), class_uid: 2001 };
    expect(detectAlertFormat(body)).toBe('ocsf');
    expect(fail(body, 'ocsf')).toEqual(['class_uid']);
  });
});

describe('OCSF Detection Finding', () => {
  it.each([
    [0, 'medium'],
    [1, 'informational'],
    [2, 'low'],
    [3, 'medium'],
    [4, 'high'],
    [5, 'critical'],
    [6, 'critical'],
    [99, 'medium'],
  ] as const)('severity_id %i -> %s', (id, severity) => {
    expect(ocsfSeverity(id)).toBe(severity);
    expect(one({ ...sample('ocsf'), severity_id: id }, 'ocsf').severity).toBe(severity);
  });

  it('rejects an out-of-range severity_id, naming it', () => {
    expect(fail({ ...sample('ocsf'), severity_id: 7 }, 'ocsf')).toEqual(['severity_id']);
  });

  it('requires type_uid to be 200400 + activity_id', () => {
    expect(fail({ ...sample('ocsf'), type_uid: 200403 }, 'ocsf')).toEqual(['type_uid']);
    expect(one({ ...sample('ocsf'), type_uid: undefined }, 'ocsf').format).toBe('ocsf');
  });

  it('names missing required fields', () => {
    const body = sample('ocsf');
    delete body.finding_info.uid;
    delete body.time;
    expect(fail(body, 'ocsf').sort()).toEqual(['finding_info.uid', 'time']);
  });

  it('requires a product name or vendor name, and falls back to the vendor', () => {
    const body = sample('ocsf');
    body.metadata.product = { version: '1' };
    expect(fail(body, 'ocsf')).toEqual(['metadata.product']);
    body.metadata.product = { vendor_name: 'Acme' };
    expect(one(body, 'ocsf').source).toBe('Acme');
  });

  it('Close activity and Resolved status are resolved, with a distinct ID', () => {
    const closed = one({ ...sample('ocsf'), activity_id: 3, type_uid: 200403 }, 'ocsf');
    expect(closed.resolved).toBe(true);
    expect(closed.sourceAlertId).toBe('ndr-finding-20261128-000417#resolved');
    expect(closed.labels?.['ocsf.activity']).toBe('Close');
    expect(one({ ...sample('ocsf'), status_id: 4 }, 'ocsf').resolved).toBe(true);
  });

  it('derives the type from MITRE ATT&CK when finding_info.types is absent', () => {
    const body = sample('ocsf');
    delete body.finding_info.types;
    expect(one(body, 'ocsf').type).toBe('c2'); // T1071.001
    body.finding_info.attacks = [{ technique: { uid: 'T1486', name: 'Data Encrypted for Impact' } }];
    expect(one(body, 'ocsf').type).toBe('ransomware');
    body.finding_info.attacks = [{ tactics: [{ name: 'Credential Access' }] }];
    expect(one(body, 'ocsf').type).toBe('account_compromise');
    delete body.finding_info.attacks;
    expect(one(body, 'ocsf').type).toBeUndefined();
  });

  it('accepts vendor extensions and unmapped fields', () => {
    const body = { ...sample('ocsf'), unmapped: { x: 1 }, x_vendor: [1, 2], enrichments: [{ name: 'geo' }] };
    body.finding_info.src_url = 'https://ndr.example/f/1';
    expect(one(body, 'ocsf').title).toContain('C2 beaconing');
  });

  it('names a malformed IP in an evidence', () => {
    const body = sample('ocsf');
    body.evidences[0].dst_endpoint.ip = '203.0.113.999';
    expect(fail(body, 'ocsf')).toEqual(['evidences.0.dst_endpoint.ip']);
  });

  it('falls back for title and rule, and rejects non-integer times', () => {
    const body = sample('ocsf');
    delete body.finding_info.title;
    delete body.finding_info.analytic;
    delete body.message;
    const a = one(body, 'ocsf');
    expect(a.title).toBe('OCSF detection finding ndr-finding-20261128-000417');
    expect(a.ruleName).toBe(a.title);
    expect(fail({ ...sample('ocsf'), time: 1.5 }, 'ocsf')).toEqual(['time']);
    expect(fail({ ...sample('ocsf'), time: '2026-11-28T09:12:07Z' }, 'ocsf')).toEqual(['time']);
  });

  it('refuses a result beyond Quell limits at the normalization stage', () => {
    const body = sample('ocsf');
    body.evidences = Array.from({ length: 300 }, (_, i) => ({
      device: { hostname: `h-${i}` },
      src_endpoint: { hostname: `s-${i}` },
    }));
    const r = normalizeAlertBody(body, 'ocsf', RECEIVED);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.stage).toBe('normalized');
    expect(errorPaths(r)).toEqual(['entities.hosts']);
  });
});

describe('Elastic Security alerts', () => {
  it('reads a flat dotted-key document exactly like the nested one', () => {
    expect(one(toDotted(sample('elastic')), 'elastic')).toEqual(one(sample('elastic'), 'elastic'));
  });

  it('reads the first of several values of a single-valued field, checking every one', () => {
    const body = { ...sample('elastic'), 'kibana.alert.rule.name': 'identity.second_name' };
    expect(one(body, 'elastic').ruleName).toBe('identity.okta.impossible_travel');
    expect(
      fail({ ...toDotted(sample('elastic')), '@timestamp': ['2026-11-28T10:03:41Z', 'later?'] }, 'elastic'),
    ).toEqual(['@timestamp.1']);
    expect(
      fail({ ...toDotted(sample('elastic')), 'kibana.alert.severity': ['high', 'apocalyptic'] }, 'elastic'),
    ).toEqual(['kibana.alert.severity.1']);
  });

  it('reads a mix of nested objects and dotted keys', () => {
    const body = {
      'kibana.alert': { uuid: 'u-1', 'rule.name': 'r' },
      'kibana.alert.severity': 'low',
      '@timestamp': RECEIVED,
    };
    expect(one(body, 'elastic')).toMatchObject({ sourceAlertId: 'u-1', ruleName: 'r', severity: 'low' });
  });

  it.each([
    [0, 'low'],
    [21, 'low'],
    [22, 'medium'],
    [47, 'medium'],
    [48, 'high'],
    [73, 'high'],
    [74, 'critical'],
    [100, 'critical'],
  ] as const)('risk score %i -> %s when no severity is given', (score, severity) => {
    expect(severityFromRiskScore(score)).toBe(severity);
    const body = sample('elastic');
    delete body.kibana.alert.severity;
    body.kibana.alert.risk_score = score;
    expect(one(body, 'elastic').severity).toBe(severity);
  });

  it('needs a severity or risk score, an ID, a rule name and a time, named by field', () => {
    const body = sample('elastic');
    delete body.kibana.alert.severity;
    delete body.kibana.alert.risk_score;
    delete body.kibana.alert.uuid;
    delete body.kibana.alert.rule.name;
    delete body['@timestamp'];
    delete body.kibana.alert.original_time;
    expect(fail(body, 'elastic').sort()).toEqual(
      ['@timestamp', 'kibana.alert.rule.name', 'kibana.alert.severity', 'kibana.alert.uuid'].sort(),
    );
  });

  it('rejects an unknown severity word and a malformed source.ip by name', () => {
    const body = sample('elastic');
    body.kibana.alert.severity = 'apocalyptic';
    body.source.ip = 'not-an-ip';
    expect(fail(body, 'elastic').sort()).toEqual(['kibana.alert.severity', 'source.ip']);
  });

  it('takes the type from a type: tag first, then technique, then tactic', () => {
    const body = sample('elastic');
    body.kibana.alert.rule.tags = ['type:ransomware'];
    expect(one(body, 'elastic').type).toBe('ransomware');
    body.kibana.alert.rule.tags = [];
    expect(one(body, 'elastic').type).toBe('account_compromise'); // T1078
    body.kibana.alert.rule.threat = [
      { tactic: { id: 'TA0011', name: 'Command and Control' }, technique: [] },
    ];
    expect(one(body, 'elastic').type).toBe('c2');
    delete body.kibana.alert.rule.threat;
    body.threat = { tactic: { name: ['Impact'] }, technique: { id: ['T1486'] } };
    expect(one(body, 'elastic').type).toBe('ransomware');
    delete body.threat;
    expect(one(body, 'elastic').type).toBeUndefined();
  });

  it('collects multi-valued ECS fields and de-duplicates', () => {
    const body = sample('elastic');
    body.host = { name: ['ws-1', 'ws-2', 'ws-1'] };
    body.destination = { ip: '2001:db8::1', domain: 'Evil.Example.' };
    body.dns = { question: { name: 'evil.example' } };
    expect(one(body, 'elastic').entities).toEqual({
      hosts: ['ws-1', 'ws-2'],
      accounts: ['m.chen'],
      ips: ['198.51.100.23', '2001:db8::1'],
      domains: ['evil.example'],
    });
  });

  it('a closed alert is resolved with a distinct ID', () => {
    const body = sample('elastic');
    body.kibana.alert.workflow_status = 'closed';
    const a = one(body, 'elastic');
    expect(a.resolved).toBe(true);
    expect(a.sourceAlertId.endsWith('#resolved')).toBe(true);
  });

  it('uses original_time when @timestamp is absent', () => {
    const body = sample('elastic');
    delete body['@timestamp'];
    expect(one(body, 'elastic').detectedAt).toBe('2026-11-28T09:58:12.000Z');
  });
});

describe('Alertmanager webhook v4', () => {
  it('marks resolved alerts and gives them a distinct ID', () => {
    const body = sample('alertmanager');
    body.alerts[0].status = 'resolved';
    body.alerts[0].endsAt = '2026-11-28T11:40:00Z';
    const [a] = ok(body, 'alertmanager');
    expect(a!.resolved).toBe(true);
    expect(a!.sourceAlertId).toBe('7c2a1f0e9d8b6c54@2026-11-28T11:20:30.123Z#resolved');
  });

  it('a later firing of the same alert is a new alert; a redelivery is the same', () => {
    const first = ok(sample('alertmanager'), 'alertmanager')[0]!;
    const again = ok(sample('alertmanager'), 'alertmanager')[0]!;
    const later = sample('alertmanager');
    later.alerts[0].startsAt = '2026-11-29T00:00:00Z';
    expect(again.sourceAlertId).toBe(first.sourceAlertId);
    expect(ok(later, 'alertmanager')[0]!.sourceAlertId).not.toBe(first.sourceAlertId);
  });

  it.each([
    ['critical', 'critical'],
    ['page', 'critical'],
    ['error', 'high'],
    ['high', 'high'],
    ['warning', 'medium'],
    ['low', 'low'],
    ['info', 'informational'],
    ['none', 'informational'],
    ['bogus', 'medium'],
    [undefined, 'medium'],
  ])('severity label %s -> %s', (label, severity) => {
    const body = sample('alertmanager');
    if (label === undefined) delete body.alerts[0].labels.severity;
    else body.alerts[0].labels.severity = label;
    expect(ok(body, 'alertmanager')[0]!.severity).toBe(severity);
  });

  it('reads entities from labels, stripping ports and ignoring non-address IP labels', () => {
    const body = sample('alertmanager');
    body.alerts[0].labels = {
      alertname: 'x',
      instance: '[2001:db8::7]:9100',
      hostname: 'db-1',
      username: 'svc',
      source_ip: 'n/a',
      dst_ip: '192.0.2.1',
      dns_domain: 'Example.COM',
    };
    expect(ok(body, 'alertmanager')[0]!.entities).toEqual({
      hosts: ['2001:db8::7', 'db-1'],
      accounts: ['svc'],
      ips: ['192.0.2.1'],
      domains: ['example.com'],
    });
    expect(stripPort('web-1:9100')).toBe('web-1');
    expect(stripPort('10.0.0.5:9100')).toBe('10.0.0.5');
    expect(stripPort('2001:db8::1')).toBe('2001:db8::1');
    expect(stripPort('web-1')).toBe('web-1');
  });

  it('names what is wrong, per alert', () => {
    const body = sample('alertmanager');
    body.version = '3';
    delete body.alerts[1].fingerprint;
    body.alerts[1].labels.alertname = '';
    body.alerts[0].startsAt = 'yesterday';
    expect(fail(body, 'alertmanager').sort()).toEqual(
      ['alerts.0.startsAt', 'alerts.1.fingerprint', 'alerts.1.labels.alertname', 'version'].sort(),
    );
  });

  it('bounds the batch', () => {
    const body = sample('alertmanager');
    body.alerts = [];
    expect(fail(body, 'alertmanager')).toEqual(['alerts']);
    body.alerts = Array.from({ length: 1001 }, () => sample('alertmanager').alerts[0]);
    expect(fail(body, 'alertmanager')).toEqual(['alerts']);
  });
});

describe('generic format', () => {
  it('rejects unknown fields by name (a typo is not a silently empty scope)', () => {
    const r = normalizeAlertBody({ ...sample('generic'), hostz: ['ws-1'] }, 'generic', RECEIVED);
    expect(errorPaths(r)).toEqual(['hostz']);
  });
});

describe('MITRE type derivation', () => {
  it('prefers techniques over tactics and ignores unknown ones', () => {
    expect(typeFromAttack(['T1486'], ['TA0011'])).toBe('ransomware');
    expect(typeFromAttack(['T9999'], ['command and control'])).toBe('c2');
    expect(typeFromAttack([], ['Discovery'])).toBeUndefined();
  });
});

describe('control characters in what alerts carry', () => {
  const generic = (fields: Record<string, unknown>) => ({
    source: 'siem',
    id: 'det-1',
    title: 't',
    severity: 'high',
    ...fields,
  });

  it('entity names with control characters are refused, naming the field', () => {
    expect(fail(generic({ hosts: ['ws\u001b[31m'] }), 'generic')).toEqual(['hosts.0']);
    expect(fail(generic({ accounts: ['a\u202eb'] }), 'generic')).toEqual(['accounts.0']);
    // Whitespace around a name is trimmed, as before.
    expect(one(generic({ hosts: [' ws-1\n'] }), 'generic').entities.hosts).toEqual(['ws-1']);
  });

  it('identifiers keep every character, control characters escaped, so redeliveries still deduplicate', () => {
    const a = one(generic({ source: 'siem\u0007', id: 'det\u0000-1' }), 'generic');
    expect(a).toMatchObject({ source: 'siem\\u0007', sourceAlertId: 'det\\u0000-1' });
    expect(one(generic({ source: 'siem\u0007', id: 'det\u0000-1' }), 'generic').sourceAlertId).toBe(
      a.sourceAlertId,
    );
  });

  it('titles and rules are kept on one printable line; descriptions keep their lines', () => {
    const a = one(
      generic({
        title: 'Ransomware\r\n## Approvals',
        rule: 'r\u0000',
        description: 'line 1\r\nline 2\u001b',
      }),
      'generic',
    );
    expect(a).toMatchObject({
      title: 'Ransomware ## Approvals',
      ruleName: 'r\ufffd',
      description: 'line 1\nline 2\ufffd',
    });
  });
});

describe('file hashes', () => {
  const SHA256 = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855';
  const SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
  const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
  const SHA512 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce'.repeat(2);

  it('generic: `files` takes MD5, SHA-1 and SHA-256, read in lower case and once each', () => {
    const alert = one({ ...sample('generic'), files: [SHA256, SHA1, MD5, SHA256.toLowerCase()] }, 'generic');
    expect(alert.entities.files).toEqual([SHA256.toLowerCase(), SHA1, MD5]);
    expect(fail({ ...sample('generic'), files: [SHA1, 'not-a-hash'] }, 'generic')).toEqual(['files.1']);
    expect(fail({ ...sample('generic'), files: [SHA512] }, 'generic')).toEqual(['files.0']);
  });

  it('an alert naming no hash has no `files` list (the shape recorded incidents have)', () => {
    for (const format of ['generic', 'ocsf', 'elastic'] as const)
      expect(one(sample(format), format).entities).not.toHaveProperty('files');
  });

  it('OCSF: file and process-image fingerprints, at the top level and in evidences; other algorithms passed over', () => {
    const alert = one(
      {
        ...sample('ocsf'),
        file: {
          name: 'a.exe',
          hashes: [
            { algorithm_id: 3, value: SHA256 },
            { algorithm_id: 4, value: SHA512 },
          ],
        },
        evidences: [
          { process: { file: { hashes: [{ algorithm_id: 2, algorithm: 'SHA-1', value: SHA1 }] } } },
          {
            file: {
              hashes: [
                { value: MD5 },
                { algorithm_id: 5, value: '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C' },
              ],
            },
          },
        ],
      },
      'ocsf',
    );
    expect(alert.entities.files).toEqual([SHA256.toLowerCase(), SHA1, MD5]);
  });

  it('OCSF: a fingerprint whose value is not of its algorithm is refused, naming it', () => {
    const body = { ...sample('ocsf'), file: { hashes: [{ algorithm_id: 3, value: SHA1 }] } };
    expect(fail(body, 'ocsf')).toEqual(['file.hashes.0.value']);
  });

  it('Elastic: file, process and dll hashes (nested or dotted), each the algorithm its field names', () => {
    const nested = {
      ...sample('elastic'),
      file: { hash: { sha256: SHA256 } },
      process: { hash: { sha1: SHA1, md5: MD5 } },
      dll: { hash: { sha256: [SHA256.toLowerCase()] } },
    };
    // Field by field: the file's, then the process image's (MD5 before SHA-1), then the library's.
    expect(one(nested, 'elastic').entities.files).toEqual([SHA256.toLowerCase(), MD5, SHA1]);
    expect(one(toDotted(nested), 'elastic').entities.files).toEqual([SHA256.toLowerCase(), MD5, SHA1]);
    expect(fail({ ...sample('elastic'), file: { hash: { sha256: SHA1 } } }, 'elastic')).toEqual([
      'file.hash.sha256',
    ]);
  });

  it('Alertmanager: hash labels count only when they hold a hash (labels are free text)', () => {
    const body = sample('alertmanager');
    body.alerts[0].labels = { alertname: 'x', hostname: 'db-1', sha256: SHA256, md5: 'n/a', hash: SHA1 };
    expect(ok(body, 'alertmanager')[0]!.entities.files).toEqual([SHA256.toLowerCase(), SHA1]);
  });
});
