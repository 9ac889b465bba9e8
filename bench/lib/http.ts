/** A small HTTP client for the bench: node:http over keep-alive sockets, retrying what a SIEM forwarder retries. */
import http from 'node:http';
import { sleep } from './stats';

export interface HttpResult {
  status: number;
  body: string;
}

export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  agent: http.Agent,
  timeoutMs = 120_000,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface Delivery extends HttpResult {
  attempts: number;
  /** performance.now() when the accepted answer arrived. */
  answeredAt: number;
}

/**
 * Posts until the answer is final: connection errors, 429, 502, 503 and 504 are retried with capped
 * exponential backoff (as a SIEM forwarder does), anything else is returned.
 */
export async function deliver(
  url: string,
  body: string,
  headers: Record<string, string>,
  agent: http.Agent,
  deadlineMs = 180_000,
  /** Per attempt: a request unanswered this long is abandoned and sent again. */
  requestTimeoutMs = 120_000,
): Promise<Delivery> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    let outcome: HttpResult | Error;
    try {
      outcome = await postJson(url, body, headers, agent, requestTimeoutMs);
    } catch (err) {
      outcome = err instanceof Error ? err : new Error(String(err));
    }
    const retry = outcome instanceof Error || [429, 502, 503, 504].includes(outcome.status);
    if (!retry) return { ...(outcome as HttpResult), attempts: attempt, answeredAt: performance.now() };
    if (Date.now() > deadline) {
      return {
        status: outcome instanceof Error ? 0 : outcome.status,
        body: outcome instanceof Error ? outcome.message : outcome.body,
        attempts: attempt,
        answeredAt: performance.now(),
      };
    }
    await sleep(Math.min(2_000, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
  }
}
