/**
 * The web console (`/console`): a preact app bundled by esbuild in memory when the API starts, served from the
 * API's origin under a strict Content-Security-Policy. It holds no state of its own and talks only to the REST
 * API, with the token the person signs in with (kept in page memory only).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Router, type Response } from 'express';

/** The console's three files, built once. */
export interface ConsoleAssets {
  html: string;
  js: string;
  css: string;
}

const WEB_DIR = path.join(__dirname, 'web');

/**
 * No inline script or style, nothing from another origin, never framed. `connectOrigins`: the identity
 * provider's token endpoint, which the console calls to finish an OpenID Connect sign-in.
 */
export function consoleCsp(connectOrigins: readonly string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...connectOrigins].join(' '),
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export const CONSOLE_CSP = consoleCsp();

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quell console</title>
<link rel="stylesheet" href="/console/console.css">
<script defer src="/console/app.js"></script>
</head>
<body>
<div id="app"><noscript>The Quell console needs JavaScript.</noscript></div>
</body>
</html>
`;

/**
 * Bundles the browser sources in `src/console/web/` with esbuild, in memory; in the image, which holds no
 * sources, reads the bundle `scripts/build-console.ts` wrote there at build time. Thrown: esbuild's error when
 * the sources do not build; an Error naming the folder when neither sources nor a bundle are there.
 */
export async function buildConsoleAssets(webDir = WEB_DIR): Promise<ConsoleAssets> {
  const css = () => fs.readFile(path.join(webDir, 'console.css'), 'utf8');
  const entry = path.join(webDir, 'main.ts');
  if (!existsSync(entry)) {
    const prebuilt = path.join(webDir, 'app.js');
    if (!existsSync(prebuilt)) throw new Error(`the console is missing: no sources or bundle in ${webDir}`);
    return { html: HTML, js: await fs.readFile(prebuilt, 'utf8'), css: await css() };
  }
  // Loaded only to bundle: an image reading its prebuilt bundle never loads esbuild.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild produced no console bundle');
  return { html: HTML, js, css: await css() };
}

/** Writes the bundle and style sheet to `outDir` (for an image that carries no sources). */
export async function writeConsoleAssets(outDir: string): Promise<void> {
  const assets = await buildConsoleAssets();
  await fs.mkdir(outDir, { recursive: true });
  await fs.writeFile(path.join(outDir, 'app.js'), assets.js);
  await fs.writeFile(path.join(outDir, 'console.css'), assets.css);
}

export interface ConsoleRouterOptions {
  /**
   * The console's OpenID Connect sign-in, when configured (`OidcVerifier.consoleSignIn`): its token endpoint's
   * origin joins the page's connect-src. Read per page load (the verifier caches it); a failure leaves it out.
   */
  signIn?: () => Promise<{ tokenEndpoint: string } | undefined>;
}

/** Serves the console at the router's mount point (`/console`): the page, its script and its style sheet. */
export function consoleRouter(assets: ConsoleAssets, options: ConsoleRouterOptions = {}): Router {
  const router = Router();
  const etag = (body: string) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  const files = {
    '/': { body: assets.html, type: 'text/html; charset=utf-8', etag: etag(assets.html) },
    '/app.js': { body: assets.js, type: 'text/javascript; charset=utf-8', etag: etag(assets.js) },
    '/console.css': { body: assets.css, type: 'text/css; charset=utf-8', etag: etag(assets.css) },
  };
  const connectOrigins = async (): Promise<string[]> => {
    const signIn = await options.signIn?.().catch(() => undefined);
    return signIn ? [new URL(signIn.tokenEndpoint).origin] : [];
  };
  const secure = (res: Response, csp: string) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-cache');
  };
  for (const [route, file] of Object.entries(files)) {
    router.get(route, async (req, res) => {
      secure(res, route === '/' ? consoleCsp(await connectOrigins()) : CONSOLE_CSP);
      res.setHeader('ETag', file.etag);
      if (req.headers['if-none-match'] === file.etag) {
        res.status(304).end();
        return;
      }
      res.type(file.type).send(file.body);
    });
  }
  return router;
}
