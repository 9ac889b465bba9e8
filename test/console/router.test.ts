import request from 'supertest';
import { buildConsoleAssets, consoleRouter, type ConsoleAssets } from '../../src/console';
import { testApp } from '../api/support/harness';

describe('the console router at /console', () => {
  let assets: ConsoleAssets;
  let app: ReturnType<typeof testApp>['app'];
  beforeAll(async () => {
    assets = await buildConsoleAssets();
    ({ app } = testApp({ consoleRouter: consoleRouter(assets) }));
  });

  it.each([
    ['/console', 'text/html'],
    ['/console/', 'text/html'],
    ['/console/app.js', 'text/javascript'],
    ['/console/console.css', 'text/css'],
  ])('%s is %s under a strict CSP, never framed or sniffed', async (path, type) => {
    const res = await request(app).get(path).expect(200);
    expect(res.headers['content-type']).toContain(type);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/style-src 'self'(;|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('the page loads only its own script and style sheet: nothing inline, nothing from elsewhere', () => {
    expect(assets.html).not.toMatch(/<script>|<style|\sstyle=|\son\w+=/);
    expect(assets.html).not.toMatch(/https?:/);
    expect([...assets.html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])).toEqual([
      '/console/console.css',
      '/console/app.js',
    ]);
    expect(assets.css).not.toMatch(/@import|url\(/);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await request(app).get('/console/app.js').expect(200);
    await request(app).get('/console/app.js').set('If-None-Match', first.headers.etag!).expect(304);
  });

  it('anything else under /console is the API 404 problem', async () => {
    const missing = await request(app).get('/console/secrets.json').expect(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
  });
});
