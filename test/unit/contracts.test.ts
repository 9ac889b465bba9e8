import { isInternalIp } from '../../src/domain/ip';
import {
  buildIncidentId,
  incidentWorkflowId,
  parseIncidentId,
  searchAttributeFlags,
} from '../../src/contracts';
import {
  correlationDigest,
  IncidentIdDeriver,
  incidentIdDeriverFromEnv,
} from '../../src/incidents/correlation';

describe('incident and workflow IDs', () => {
  it('round-trips an incident ID to the workflow it lives in', () => {
    const workflowId = incidentWorkflowId(correlationDigest('rule|host:ws-1'));
    const incidentId = buildIncidentId(workflowId, '019ac6a1-4b5a-7978-8796-a5b4c3d2e1f0');
    expect(incidentId).toMatch(/^INC-[0-9a-f]{16}-d2e1f0$/);
    expect(parseIncidentId(incidentId)).toEqual({ workflowId, runTag: 'd2e1f0' });
    // Runs started moments apart (UUIDv7 share their leading digits) still get different incident IDs.
    expect(buildIncidentId(workflowId, '019ac6a1-4b5a-7978-8796-a5b4c3d2e1f0')).not.toBe(
      buildIncidentId(workflowId, '019ac6a1-4b5b-7000-9111-0a1b2c3d4e5f'),
    );
  });

  it('rejects text that is not an incident ID', () => {
    for (const bad of ['', 'INC-', 'INC-xyz-123456', '../../etc/passwd', 'INC-0123456789abcdef-12345']) {
      expect(parseIncidentId(bad)).toBeUndefined();
    }
  });

  it('lists every search attribute in the dev server flag form', () => {
    expect(searchAttributeFlags()).toEqual(
      expect.arrayContaining(['QuellSeverity=Keyword', 'QuellHosts=KeywordList', 'QuellIncidentId=Keyword']),
    );
  });
});

describe('isInternalIp', () => {
  it('recognises internal ranges and leaves public addresses alone', () => {
    for (const ip of [
      '10.20.4.117',
      '192.168.1.1',
      '172.16.0.9',
      '172.31.255.1',
      '127.0.0.1',
      '169.254.1.1',
      '100.64.0.1',
      '::1',
      'fd12:3456::1',
      'fe80::1',
      '::ffff:10.0.0.1',
    ]) {
      expect([ip, isInternalIp(ip)]).toEqual([ip, true]);
    }
    for (const ip of ['203.0.113.66', '8.8.8.8', '172.32.0.1', '2001:db8::1', '::ffff:8.8.8.8']) {
      expect([ip, isInternalIp(ip)]).toEqual([ip, false]);
    }
  });
});

describe('keyed incident IDs (QUELL_INCIDENT_ID_KEY)', () => {
  const key = 'k'.repeat(40);
  const correlationKey = 'ransomware-host|ransomware.mass_encryption|host:ws-fin-042';

  it('keys the workflow digest and the correlation tag, so guessed host names confirm nothing', () => {
    const keyed = new IncidentIdDeriver({ key });
    expect(keyed.keyed).toBe(true);
    expect(keyed.digest(correlationKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyed.digest(correlationKey)).toBe(keyed.digest(correlationKey));
    // The unkeyed digest is what a dictionary attack computes; the keyed one differs (and differs per key).
    expect(keyed.digest(correlationKey)).not.toBe(correlationDigest(correlationKey));
    expect(new IncidentIdDeriver({ key: 'z'.repeat(40) }).digest(correlationKey)).not.toBe(
      keyed.digest(correlationKey),
    );
    expect(keyed.correlationTag(correlationKey)).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(keyed.correlationTag(correlationKey)).not.toContain(keyed.digest(correlationKey));
    // Without a key: exactly today's derivation, so existing deployments keep their IDs.
    const unkeyed = new IncidentIdDeriver();
    expect(unkeyed.digest(correlationKey)).toBe(correlationDigest(correlationKey));
    expect(unkeyed.correlationTag(correlationKey)).toMatch(/^digest:[0-9a-f]{14}$/);
  });

  it('lists the digests of earlier derivations, for incidents opened before a key or a rotation', () => {
    const rotated = new IncidentIdDeriver({ key, previous: ['unkeyed', 'o'.repeat(40)] });
    expect(rotated.previousDigests(correlationKey)).toEqual([
      correlationDigest(correlationKey),
      new IncidentIdDeriver({ key: 'o'.repeat(40) }).digest(correlationKey),
    ]);
    expect(new IncidentIdDeriver({ key }).previousDigests(correlationKey)).toEqual([]);
  });

  it('is required with payload encryption, and refuses short keys', () => {
    expect(() => incidentIdDeriverFromEnv({}, { encryptionEnabled: true })).toThrow(/QUELL_INCIDENT_ID_KEY/);
    expect(() =>
      incidentIdDeriverFromEnv({ QUELL_INCIDENT_ID_KEY: 'short' }, { encryptionEnabled: false }),
    ).toThrow(/at least 32/);
    expect(() =>
      incidentIdDeriverFromEnv(
        { QUELL_INCIDENT_ID_KEY: key, QUELL_INCIDENT_ID_KEY_PREVIOUS: 'unkeyed,tooshort' },
        { encryptionEnabled: true },
      ),
    ).toThrow(/QUELL_INCIDENT_ID_KEY_PREVIOUS/);
    expect(incidentIdDeriverFromEnv({}, { encryptionEnabled: false }).keyed).toBe(false);
    expect(incidentIdDeriverFromEnv({ QUELL_INCIDENT_ID_KEY: key }, { encryptionEnabled: true }).keyed).toBe(
      true,
    );
  });
});
