/**
 * A bounded binary download for the time-limited URIs vendors hand out (Defender's investigation packages
 * live in Azure blob storage behind a SAS URI). It is kept apart from HttpClient on purpose: no bearer
 * token or default header is ever attached, the body is bytes rather than text, and the size is capped.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { checkUrl } from './descriptor';
import {
  type ConnectorError,
  PermanentConnectorError,
  RateLimitedError,
  TransientConnectorError,
} from './errors';
import { type AllowList, errorForNetworkFailure, isAllowedUrl, retryAfterMsFrom } from './http';

export interface DownloadOptions {
  vendor: string;
  /** What we are fetching, for messages ("download investigation package of ws-1"). */
  op: string;
  /** Where downloads may go (host names, `*.suffix`, URL prefixes: see {@link AllowList}). */
  allowList: AllowList;
  maxBytes: number;
  timeoutMs: number;
}

function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

/**
 * Fetches `url` with a plain GET (no credentials but what the URI itself carries) and returns its bytes.
 *
 * Thrown: {@link PermanentConnectorError} before any I/O when the URL is not https (plain http only to
 * loopback, i.e. the lab) or not on `allowList`, for a redirect, and when the body exceeds `maxBytes`;
 * {@link TransientConnectorError} for a timeout, a network failure, 5xx, and 403/404 (an expired or not yet
 * valid URI: a retry obtains a fresh one); {@link RateLimitedError} for 429.
 */
export async function downloadBytes(url: string, opts: DownloadOptions): Promise<Buffer> {
  const { vendor, op } = opts;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new PermanentConnectorError(`${vendor}: ${op}: the vendor returned an unreadable URI`, { vendor });
  }
  const shown = `${target.protocol}//${target.host}`;
  const problem = checkUrl(url);
  if (problem)
    throw new PermanentConnectorError(`${vendor}: ${op}: download URI ${shown} ${problem}`, { vendor });
  if (!isAllowedUrl(url, opts.allowList)) {
    throw new PermanentConnectorError(
      `${vendor}: ${op}: download URI ${shown} is not an allowed package host`,
      {
        vendor,
      },
    );
  }
  // Only the origin is ever named: the query string of a SAS URI is the credential.
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const done = (err: ConnectorError | undefined, bytes?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(bytes!);
    };
    const req = transport.request(target, {
      method: 'GET',
      headers: { 'user-agent': 'quell-connectors/0.1', accept: 'application/octet-stream' },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      done(new TransientConnectorError(`${vendor}: ${op} timed out after ${opts.timeoutMs} ms`, { vendor }));
    }, opts.timeoutMs);
    req.once('error', (err) => done(errorForNetworkFailure(err, { vendor, op })));
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      const details = { vendor, status };
      if (status !== 200) {
        res.resume();
        const message = `${vendor}: ${op} failed with HTTP ${status} from ${shown}`;
        if (status >= 300 && status < 400)
          done(new PermanentConnectorError(`${message} (redirects are not followed)`, details));
        else if (status === 429)
          done(new RateLimitedError(message, retryAfterMsFrom(headersOf(res)), details));
        else if (status >= 500 || status === 408 || status === 403 || status === 404)
          done(new TransientConnectorError(message, details));
        else done(new PermanentConnectorError(message, details));
        return;
      }
      const tooBig = () =>
        new PermanentConnectorError(`${vendor}: ${op}: the package exceeds ${opts.maxBytes} bytes`, details);
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        req.destroy();
        done(tooBig());
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy();
          done(tooBig());
          return;
        }
        chunks.push(chunk);
      });
      res.once('end', () => done(undefined, Buffer.concat(chunks)));
      res.once('error', (err) => done(errorForNetworkFailure(err, { vendor, op })));
    });
    req.end();
  });
}
