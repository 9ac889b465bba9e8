import type { Logger } from 'pino';
import { defineVendor } from '../descriptor';
import { type AllowList, HttpClient, pickString } from '../http';
import type { LogReadRequest, LogReadResult, LogSource } from '../types';
import { assertHostname, queryString } from '../util';
import { parseWindow } from './window';

export interface LabLogSourceOptions {
  /** The lab estate's base URL, e.g. `http://127.0.0.1:8090`. */
  labUrl: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Reads a host's logs from the built-in lab estate: `GET <lab>/lab/logs/<host>?from=&to=` answers
 * synthetic but deterministic lines (the same host and window always give the same bytes).
 */
export class LabLogSource implements LogSource {
  readonly name = 'lab';
  private readonly http: HttpClient;
  private readonly base: string;

  constructor(opts: LabLogSourceOptions) {
    this.base = opts.labUrl.replace(/\/+$/, '');
    this.http = new HttpClient({
      vendor: 'lab-logs',
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
    });
  }

  async readHostLogs(req: LogReadRequest): Promise<LogReadResult> {
    const host = assertHostname(req.host, 'lab-logs');
    parseWindow(req, 'lab-logs');
    const op = `read logs of ${host}`;
    const res = await this.http.request({
      method: 'GET',
      url: `${this.base}/lab/logs/${encodeURIComponent(host)}${queryString({ from: req.from, to: req.to })}`,
      op,
      headers: { accept: 'text/plain' },
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, pickString(res.json, 'error'));
    const content = Buffer.from(res.text, 'utf8');
    const lineCount = res.text ? res.text.split('\n').filter((l) => l.length > 0).length : 0;
    return { source: `lab:${this.base}/lab/logs/${host}`, content, lineCount };
  }
}

/** `QUELL_LOGS=lab` (the default): the lab estate's synthetic logs. */
export const labLogs = defineVendor({
  env: {},
  secrets: [],
  lab: true,
  resolve: (_e, ctx) => ({ labUrl: ctx.labUrl }),
  endpoints: () => [],
  build: (s, ctx) => new LabLogSource({ labUrl: s.labUrl, ...ctx }),
  describe: (s) => `lab log source (${s.labUrl}/lab/logs)`,
});
