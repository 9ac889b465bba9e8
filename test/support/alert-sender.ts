import http from 'node:http';

/** What one POST got: an answer, or a transport error (connection refused or reset, timeout). */
export type Outcome = { status: number; body: string } | { error: string };

export interface AlertReceipt {
  incidentId: string;
  workflowId: string;
  alertId: string;
  deduplicated: boolean;
}

/** POSTs a body to `/api/v1/alerts` over `agent` as `token`. Never throws: failures are outcomes. */
export function postAlert(url: string, token: string, body: string, agent: http.Agent): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: hostname,
        port,
        path: '/api/v1/alerts',
        method: 'POST',
        agent,
        timeout: 30_000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', (err) => resolve({ error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(body);
  });
}

/**
 * A sender the way an alert source should behave: POST until 202, retrying what is worth retrying (the API
 * away or saying so: transport errors, 429, 502-504) with capped backoff, failing on anything else. Counts
 * what it met, so a drill can show that retries happened.
 */
export class AlertSender {
  readonly statuses: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  delivered = 0;
  inFlight = 0;
  readonly #agent: http.Agent;

  constructor(
    private readonly url: string,
    private readonly token: string,
    opts: { maxSockets?: number; giveUpAfterMs?: number } = {},
  ) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 8 });
    this.giveUpAfterMs = opts.giveUpAfterMs ?? 300_000;
  }

  readonly giveUpAfterMs: number;

  /** Delivers one alert: its receipt and how many attempts it took. Thrown: when refused for good. */
  async deliver(body: string): Promise<{ receipt: AlertReceipt; attempts: number }> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      this.inFlight++;
      const outcome = await postAlert(this.url, this.token, body, this.#agent);
      this.inFlight--;
      if ('status' in outcome) this.statuses[outcome.status] = (this.statuses[outcome.status] ?? 0) + 1;
      else this.errors[outcome.error] = (this.errors[outcome.error] ?? 0) + 1;
      if ('status' in outcome && outcome.status === 202) {
        this.delivered++;
        return { receipt: JSON.parse(outcome.body) as AlertReceipt, attempts: attempt };
      }
      const retryable = !('status' in outcome) || [429, 502, 503, 504].includes(outcome.status);
      if (!retryable || Date.now() - started > this.giveUpAfterMs) {
        throw new Error(`alert not accepted after ${attempt} attempt(s): ${JSON.stringify(outcome)}`);
      }
      await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** Math.min(attempt, 6))));
    }
  }

  close(): void {
    this.#agent.destroy();
  }
}
