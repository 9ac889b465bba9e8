import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { defineVendor, optionalString } from '../descriptor';
import {
  ConnectorAuthError,
  ConflictError,
  PermanentConnectorError,
  TransientConnectorError,
} from '../errors';
import type { ActionContext, BlockState, EffectResult, FirewallConnector } from '../types';
import { KeyedMutex, type ParsedIpTarget, ipInRange, parseIpTarget, truncate } from '../util';

export interface NftablesOptions {
  /** The nft binary; default `nft` on PATH. */
  nftPath?: string;
  /** Run nft inside this network namespace (`ip netns exec <ns> nft ...`). */
  netns?: string;
  /** The `ip` binary used for netns; default `ip`. */
  ipPath?: string;
  /** Table name in family `inet`; default `quell`. */
  table?: string;
  /** Per-command timeout; default 5 s. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface NftResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const NETNS_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * A local nftables firewall. Quell owns one table, `inet quell`, holding
 * - named sets `blocked_ipv4` (type ipv4_addr) and `blocked_ipv6` (type ipv6_addr), both with the `interval`
 *   flag so CIDR ranges can be blocked too;
 * - base chains `input`, `forward` and `output` (filter hooks, priority filter - 10, policy accept) that drop
 *   traffic from (input, forward) and to (output, forward) any address in those sets.
 * The table is created (or its rules re-laid, atomically, keeping the sets' elements) on first use.
 *
 * - blockIp: `create element inet quell blocked_ipvN { <addr> comment "Quell <incident>" }`; already present,
 *   or covered by a blocked range, is already in state ("File exists" from a race counts the same).
 * - unblockIp: `delete element ...`; absent is already in state ("element does not exist" too); an address
 *   that is only covered by a blocked range is a {@link ConflictError} (unblock the range).
 * - getIpState: `nft -j list set ...`, blocked when the address or a range covering it is in the set.
 * - Domains: nftables matches addresses, not names: a {@link PermanentConnectorError}.
 * nft needs CAP_NET_ADMIN; "Operation not permitted" is a {@link ConnectorAuthError}. With `netns`, every
 * command runs as `ip netns exec <netns> nft ...` (tests use a namespace of their own).
 */
export class NftablesFirewall implements FirewallConnector {
  readonly vendor = 'nftables';
  private readonly nftPath: string;
  private readonly ipPath: string;
  private readonly netns?: string;
  private readonly table: string;
  private readonly timeoutMs: number;
  private readonly logger?: Logger;
  private ensured?: Promise<void>;
  private readonly mutex = new KeyedMutex();

  constructor(opts: NftablesOptions = {}) {
    this.nftPath = opts.nftPath ?? 'nft';
    this.ipPath = opts.ipPath ?? 'ip';
    this.table = opts.table ?? 'quell';
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.logger = opts.logger;
    if (!NAME_RE.test(this.table)) {
      throw new PermanentConnectorError(`nftables: invalid table name ${JSON.stringify(this.table)}`, {
        vendor: this.vendor,
      });
    }
    if (opts.netns !== undefined) {
      if (!NETNS_RE.test(opts.netns)) {
        throw new PermanentConnectorError(`nftables: invalid netns name ${JSON.stringify(opts.netns)}`, {
          vendor: this.vendor,
        });
      }
      this.netns = opts.netns;
    }
  }

  /** Where this firewall acts, for banners: `inet quell (netns x)`. */
  describe(): string {
    return `table inet ${this.table}${this.netns ? ` in netns ${this.netns}` : ''}`;
  }

  async blockIp(ip: string, ctx: ActionContext): Promise<EffectResult> {
    const target = parseIpTarget(ip, this.vendor);
    await this.ensureTable();
    return this.mutex.run(target.value, async () => {
      const elements = await this.listSet(target.family);
      if (
        elements.some(
          (e) => e.value === target.value || (target.prefix === undefined && ipInRange(target, e)),
        )
      ) {
        return { alreadyInState: true, vendorRef: this.setRef(target) };
      }
      const comment = nftComment(`Quell ${ctx.incidentId} ${ctx.comment}`);
      const res = await this.exec(
        ['-f', '-'],
        `create element inet ${this.table} ${setName(target)} { ${target.value} comment "${comment}" }\n`,
      );
      if (res.code === 0) return { alreadyInState: false, vendorRef: this.setRef(target) };
      if (/File exists/i.test(res.stderr)) return { alreadyInState: true, vendorRef: this.setRef(target) };
      throw this.errorFor(res, `block ${target.value}`);
    });
  }

  async unblockIp(ip: string, _ctx: ActionContext): Promise<EffectResult> {
    const target = parseIpTarget(ip, this.vendor);
    await this.ensureTable();
    return this.mutex.run(target.value, async () => {
      const elements = await this.listSet(target.family);
      if (!elements.some((e) => e.value === target.value)) {
        const covering = target.prefix === undefined ? elements.find((e) => ipInRange(target, e)) : undefined;
        if (covering) {
          throw new ConflictError(
            `nftables: ${target.value} is blocked by the range ${covering.value}; unblock the range instead`,
            { vendor: this.vendor },
          );
        }
        return { alreadyInState: true, vendorRef: this.setRef(target) };
      }
      const res = await this.exec(
        ['-f', '-'],
        `delete element inet ${this.table} ${setName(target)} { ${target.value} }\n`,
      );
      if (res.code === 0) return { alreadyInState: false, vendorRef: this.setRef(target) };
      if (/element does not exist|No such file or directory/i.test(res.stderr)) {
        return { alreadyInState: true, vendorRef: this.setRef(target) };
      }
      throw this.errorFor(res, `unblock ${target.value}`);
    });
  }

  async getIpState(ip: string): Promise<BlockState> {
    const target = parseIpTarget(ip, this.vendor);
    await this.ensureTable();
    const elements = await this.listSet(target.family);
    const hit = elements.some(
      (e) => e.value === target.value || (target.prefix === undefined && ipInRange(target, e)),
    );
    return hit ? 'blocked' : 'allowed';
  }

  async blockDomain(domain: string, _ctx: ActionContext): Promise<EffectResult> {
    throw this.noDomains(domain);
  }

  async unblockDomain(domain: string, _ctx: ActionContext): Promise<EffectResult> {
    throw this.noDomains(domain);
  }

  async getDomainState(domain: string): Promise<BlockState> {
    throw this.noDomains(domain);
  }

  /**
   * Creates `inet <table>` with its sets and drop rules if needed, in one nft transaction. Existing sets
   * (and their elements) are kept; the three chains are flushed and their rules laid again, so a repeat never
   * duplicates a rule.
   */
  async ensureTable(): Promise<void> {
    this.ensured ??= this.layTable().catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  private async layTable(): Promise<void> {
    const t = `inet ${this.table}`;
    const chain = (name: string, hook: string) =>
      `add chain ${t} ${name} { type filter hook ${hook} priority filter - 10; policy accept; }\nflush chain ${t} ${name}\n`;
    const script =
      `add table ${t}\n` +
      `add set ${t} blocked_ipv4 { type ipv4_addr; flags interval; }\n` +
      `add set ${t} blocked_ipv6 { type ipv6_addr; flags interval; }\n` +
      chain('input', 'input') +
      chain('forward', 'forward') +
      chain('output', 'output') +
      `add rule ${t} input ip saddr @blocked_ipv4 drop\n` +
      `add rule ${t} input ip6 saddr @blocked_ipv6 drop\n` +
      `add rule ${t} forward ip saddr @blocked_ipv4 drop\n` +
      `add rule ${t} forward ip daddr @blocked_ipv4 drop\n` +
      `add rule ${t} forward ip6 saddr @blocked_ipv6 drop\n` +
      `add rule ${t} forward ip6 daddr @blocked_ipv6 drop\n` +
      `add rule ${t} output ip daddr @blocked_ipv4 drop\n` +
      `add rule ${t} output ip6 daddr @blocked_ipv6 drop\n`;
    const res = await this.exec(['-f', '-'], script);
    if (res.code !== 0) throw this.errorFor(res, `create table ${t}`);
  }

  /** The set's elements (addresses, prefixes, ranges as their first address's prefix). */
  private async listSet(family: 4 | 6): Promise<ParsedIpTarget[]> {
    const set = family === 4 ? 'blocked_ipv4' : 'blocked_ipv6';
    const res = await this.exec(['-j', 'list', 'set', 'inet', this.table, set]);
    if (res.code !== 0) throw this.errorFor(res, `list set ${set}`);
    return parseNftSetElements(res.stdout);
  }

  private setRef(t: ParsedIpTarget): string {
    return `inet ${this.table} ${setName(t)} ${t.value}`;
  }

  private noDomains(domain: string): PermanentConnectorError {
    return new PermanentConnectorError(
      `nftables: cannot block domains (${truncate(domain, 80)}): nftables matches addresses, not names`,
      { vendor: this.vendor },
    );
  }

  private errorFor(res: NftResult, op: string): Error {
    const stderr = truncate(res.stderr.trim().split('\n')[0] ?? '', 300);
    const message = `nftables: ${op} failed (exit ${res.code ?? 'signal'}): ${stderr}`;
    if (/Operation not permitted|Permission denied/i.test(res.stderr)) {
      return new ConnectorAuthError(message, { vendor: this.vendor });
    }
    if (/Device or resource busy|Resource temporarily unavailable|timed out/i.test(res.stderr)) {
      return new TransientConnectorError(message, { vendor: this.vendor });
    }
    return new PermanentConnectorError(message, { vendor: this.vendor });
  }

  /** Runs nft (inside the netns when configured). Never throws for a non-zero exit: see {@link NftResult}. */
  exec(args: string[], stdin?: string): Promise<NftResult> {
    const [cmd, argv] = this.netns
      ? [this.ipPath, ['netns', 'exec', this.netns, this.nftPath, ...args]]
      : [this.nftPath, args];
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.timeoutMs);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          err.code === 'ENOENT'
            ? new PermanentConnectorError(`nftables: ${cmd} not found: install nftables`, {
                vendor: this.vendor,
              })
            : new TransientConnectorError(`nftables: cannot run ${cmd}: ${err.message}`, {
                vendor: this.vendor,
              }),
        );
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        this.logger?.debug({ vendor: this.vendor, args: args.slice(0, 3), code }, 'nft');
        if (timedOut) {
          reject(
            new TransientConnectorError(
              `nftables: nft ${args.join(' ')} timed out after ${this.timeoutMs} ms`,
              {
                vendor: this.vendor,
              },
            ),
          );
          return;
        }
        if (this.netns && code !== 0 && /Cannot open network namespace|exec of ".*" failed/.test(stderr)) {
          reject(
            new PermanentConnectorError(`nftables: ${truncate(stderr.trim(), 200)}`, { vendor: this.vendor }),
          );
          return;
        }
        resolve({ stdout, stderr, code });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin ?? '');
    });
  }
}

function setName(t: ParsedIpTarget): string {
  return t.family === 4 ? 'blocked_ipv4' : 'blocked_ipv6';
}

/** Set element comments: printable, no quotes or backslashes, at most 100 characters. */
function nftComment(s: string): string {
  return truncate(
    s
      .replace(/[^A-Za-z0-9 _.,:;/@+=()-]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
    100,
  ).replace('…', '');
}

/**
 * Parses `nft -j list set` output into addresses and prefixes. Elements come as a bare string, an
 * `{elem:{val, comment}}` wrapper, `{prefix:{addr, len}}`, or `{range:[from, to]}` (kept as its first
 * address only when it is a single address).
 */
export function parseNftSetElements(json: string): ParsedIpTarget[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new PermanentConnectorError('nftables: unreadable JSON from nft -j', { vendor: 'nftables' });
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  const out: ParsedIpTarget[] = [];
  const add = (v: string) => {
    try {
      out.push(parseIpTarget(v, 'nftables'));
    } catch {
      /* not an address: ignore */
    }
  };
  const visit = (el: unknown): void => {
    if (typeof el === 'string') return add(el);
    if (!el || typeof el !== 'object') return;
    const o = el as Record<string, unknown>;
    if (o.elem && typeof o.elem === 'object') return visit((o.elem as Record<string, unknown>).val);
    if (o.prefix && typeof o.prefix === 'object') {
      const p = o.prefix as { addr?: unknown; len?: unknown };
      if (typeof p.addr === 'string' && typeof p.len === 'number') add(`${p.addr}/${p.len}`);
      return;
    }
    if (Array.isArray(o.range) && o.range[0] === o.range[1] && typeof o.range[0] === 'string')
      add(o.range[0]);
  };
  for (const item of items) {
    const set = (item as { set?: { elem?: unknown[] } }).set;
    for (const el of set?.elem ?? []) visit(el);
  }
  return out;
}

/** `QUELL_FIREWALL=nftables`: a table of this host's nftables (or of a network namespace). */
export const nftablesFirewall = defineVendor({
  env: { QUELL_NFT_PATH: optionalString, QUELL_NFT_NETNS: optionalString, QUELL_NFT_TABLE: optionalString },
  secrets: [],
  resolve(e, ctx) {
    if (e.QUELL_NFT_TABLE && !NAME_RE.test(e.QUELL_NFT_TABLE)) {
      ctx.problem('QUELL_NFT_TABLE', 'must be a letter followed by letters, digits or "_" (at most 32)');
    }
    if (e.QUELL_NFT_NETNS && !NETNS_RE.test(e.QUELL_NFT_NETNS)) {
      ctx.problem('QUELL_NFT_NETNS', 'not a valid network namespace name');
    }
    return {
      ...(e.QUELL_NFT_PATH ? { nftPath: e.QUELL_NFT_PATH } : {}),
      ...(e.QUELL_NFT_NETNS ? { netns: e.QUELL_NFT_NETNS } : {}),
      ...(e.QUELL_NFT_TABLE ? { table: e.QUELL_NFT_TABLE } : {}),
    };
  },
  endpoints: () => [],
  build: (s, ctx) => new NftablesFirewall({ ...s, logger: ctx.logger }),
  describe: (s) => `nftables (table inet ${s.table ?? 'quell'}${s.netns ? ` in netns ${s.netns}` : ''})`,
});
