import express from 'express';
import request from 'supertest';
import { LabStore, createLabRouter, labInvestigationPackage } from '../../src/connectors/lab';

/** The lab with a token for `audience`, over supertest (no port). */
async function lab(opts: { responseActionDelayMs?: number; now?: () => number } = {}) {
  const store = new LabStore(opts);
  const app = express();
  app.use(createLabRouter(store));
  const mde = store.issueToken('defender').token;
  const cs = store.issueToken('crowdstrike').token;
  return { store, app, mde: `Bearer ${mde}`, cs: `Bearer ${cs}` };
}

const SHA1 = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3';
const SHA256 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

describe('lab Defender response-action contract', () => {
  it('moves a scan Pending -> InProgress -> Succeeded and refuses a repeat meanwhile', async () => {
    let now = Date.parse('2026-12-01T09:00:00Z');
    const { app, store, mde } = await lab({ responseActionDelayMs: 1_000, now: () => now });
    const m = store.findHost('ws-fin-042')!.machineId;
    const created = await request(app)
      .post(`/defender/api/machines/${m}/runAntiVirusScan`)
      .set('authorization', mde)
      .send({ Comment: 'Quell incident INC-1', ScanType: 'Quick' })
      .expect(201);
    const id = (created.body as { id: string }).id;
    expect(created.body).toMatchObject({ type: 'RunAntiVirusScan', scope: 'Quick', status: 'Pending' });
    const again = await request(app)
      .post(`/defender/api/machines/${m}/runAntiVirusScan`)
      .set('authorization', mde)
      .send({ Comment: 'x', ScanType: 'Full' })
      .expect(400);
    expect(again.body).toMatchObject({ error: { message: 'Action is already in progress' } });
    const status = async () =>
      (
        (await request(app).get(`/defender/api/machineactions/${id}`).set('authorization', mde).expect(200))
          .body as { status: string }
      ).status;
    now += 600;
    expect(await status()).toBe('InProgress');
    now += 600;
    expect(await status()).toBe('Succeeded');
    await request(app).get('/defender/api/machineactions/nope').set('authorization', mde).expect(404);
  });

  it('validates bodies: ScanType, Sha1, Comment', async () => {
    const { app, store, mde } = await lab();
    const m = store.findHost('ws-eng-007')!.machineId;
    const post = (path: string, body: object) =>
      request(app).post(`/defender/api/machines/${m}/${path}`).set('authorization', mde).send(body);
    await post('runAntiVirusScan', { Comment: 'c', ScanType: 'Deep' }).expect(400);
    await post('StopAndQuarantineFile', { Comment: 'c', Sha1: 'abc' }).expect(400);
    await post('collectInvestigationPackage', {}).expect(400);
    await post('StopAndQuarantineFile', { Comment: 'c', Sha1: SHA1.toUpperCase() }).expect(201);
    expect(store.snapshot().hosts.find((h) => h.name === 'ws-eng-007')!.quarantinedFiles).toEqual([
      expect.objectContaining({ sha1: SHA1 }),
    ]);
  });

  it('serves the package only when done, at a signed URI that takes no bearer token', async () => {
    let now = Date.parse('2026-12-01T09:00:00Z');
    const { app, store, mde } = await lab({ responseActionDelayMs: 1_000, now: () => now });
    const m = store.findHost('dc-01')!.machineId;
    const { id } = (
      await request(app)
        .post(`/defender/api/machines/${m}/collectInvestigationPackage`)
        .set('authorization', mde)
        .send({ Comment: 'c' })
        .expect(201)
    ).body as { id: string };
    await request(app)
      .get(`/defender/api/machineactions/${id}/GetPackageUri`)
      .set('authorization', mde)
      .expect(404);
    now += 1_000;
    const res = await request(app)
      .get(`/defender/api/machineactions/${id}/getPackageUri`)
      .set('authorization', mde)
      .expect(200);
    const uri = new URL((res.body as { value: string }).value);
    expect(uri.pathname).toBe(`/defender/userrequests/${id}/package.zip`);
    const path = `${uri.pathname}${uri.search}`;
    await request(app).get(path).set('authorization', mde).expect(400);
    await request(app)
      .get(path.replace(/sig=[0-9a-f]+/, 'sig=00'))
      .expect(403);
    const zip = await request(app)
      .get(path)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(zip.status).toBe(200);
    expect((zip.body as Buffer).equals(labInvestigationPackage('dc-01'))).toBe(true);
    now += 11 * 60_000;
    await request(app).get(path).expect(403);
  });

  it('lets the control plane set how the next action ends', async () => {
    const { app, store, mde } = await lab();
    await request(app)
      .post('/lab/hosts/ws-fin-042/next-action-outcome')
      .send({ outcome: 'Nope' })
      .expect(400);
    await request(app)
      .post('/lab/hosts/ws-fin-042/next-action-outcome')
      .send({ outcome: 'TimeOut' })
      .expect(200);
    const m = store.findHost('ws-fin-042')!.machineId;
    const post = () =>
      request(app)
        .post(`/defender/api/machines/${m}/runAntiVirusScan`)
        .set('authorization', mde)
        .send({ Comment: 'c', ScanType: 'Quick' })
        .expect(201);
    expect((await post()).body).toMatchObject({ status: 'TimeOut' });
    expect((await post()).body).toMatchObject({ status: 'Succeeded' });
  });
});

describe('lab Falcon IOC and ODS contract', () => {
  it('creates, finds, refuses duplicates of and deletes custom IOCs', async () => {
    const { app, store, cs } = await lab();
    const ioc = {
      type: 'sha256',
      value: SHA256,
      action: 'prevent',
      severity: 'high',
      platforms: ['windows'],
      applied_globally: true,
    };
    const post = (indicator: object) =>
      request(app)
        .post('/crowdstrike/iocs/entities/indicators/v1')
        .set('authorization', cs)
        .send({ comment: 'c', indicators: [indicator] });
    await post({ ...ioc, severity: undefined }).expect(400);
    await post({ ...ioc, applied_globally: false }).expect(400);
    await post({ ...ioc, value: 'abc' }).expect(400);
    const { id } = ((await post(ioc).expect(201)).body as { resources: { id: string }[] }).resources[0]!;
    const dup = await post(ioc).expect(400);
    expect(JSON.stringify(dup.body)).toMatch(/Duplicate type/);
    const found = await request(app)
      .get(
        `/crowdstrike/iocs/combined/indicator/v1?filter=${encodeURIComponent(`type:'sha256'+value:'${SHA256}'`)}`,
      )
      .set('authorization', cs)
      .expect(200);
    expect((found.body as { resources: { id: string }[] }).resources.map((r) => r.id)).toEqual([id]);
    await request(app)
      .get('/crowdstrike/iocs/combined/indicator/v1?filter=bogus')
      .set('authorization', cs)
      .expect(400);
    await request(app)
      .delete(`/crowdstrike/iocs/entities/indicators/v1?ids=${id}`)
      .set('authorization', cs)
      .expect(200);
    await request(app)
      .delete(`/crowdstrike/iocs/entities/indicators/v1?ids=${id}`)
      .set('authorization', cs)
      .expect(404);
    expect(store.ledger({ target: `sha256:${SHA256}` }).map((e) => e.effect)).toEqual([
      'quarantine_file',
      'release_file',
    ]);
  });

  it('runs on-demand scans pending -> running -> completed and queries them', async () => {
    let now = Date.parse('2026-12-01T09:00:00Z');
    const { app, store, cs } = await lab({ responseActionDelayMs: 1_000, now: () => now });
    const device = store.findHost('ws-fin-042')!.deviceId;
    await request(app)
      .post('/crowdstrike/ods/entities/scans/v1')
      .set('authorization', cs)
      .send({ hosts: ['nope'], file_paths: ['C:\\**'] })
      .expect(404);
    const { id } = (
      (
        await request(app)
          .post('/crowdstrike/ods/entities/scans/v1')
          .set('authorization', cs)
          .send({ hosts: [device], file_paths: ['C:\\**'], description: "it's mine" })
          .expect(201)
      ).body as { resources: { id: string }[] }
    ).resources[0]!;
    const query = async (filter: string) =>
      (
        (
          await request(app)
            .get(`/crowdstrike/ods/queries/scans/v1?filter=${encodeURIComponent(filter)}`)
            .set('authorization', cs)
            .expect(200)
        ).body as { resources: string[] }
      ).resources;
    expect(await query("status:['pending','running']")).toEqual([id]);
    expect(await query("description.keyword:'it\\'s mine'")).toEqual([id]);
    now += 600;
    expect(store.scan(id)!.status).toBe('running');
    now += 600;
    expect(await query("status:['pending','running']")).toEqual([]);
    const entity = await request(app)
      .get(`/crowdstrike/ods/entities/scans/v1?ids=${id}`)
      .set('authorization', cs)
      .expect(200);
    expect(entity.body).toMatchObject({ resources: [{ id, status: 'completed', hosts: [device] }] });
  });
});
