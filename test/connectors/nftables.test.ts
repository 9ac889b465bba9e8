import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NftablesFirewall, parseNftSetElements } from '../../src/connectors/firewall/nftables';
import { actionCtx, expectConnectorError } from './support';

/**
 * These tests run nft against the real kernel, inside a network namespace they create. Where the machine
 * cannot (no nft binary, not root, no netns or nf_tables support), the suite is skipped with a printed
 * reason, never passed silently. QUELL_TEST_NFT overrides the nft binary (e.g. to check the skip path).
 */
const NFT = process.env.QUELL_TEST_NFT ?? 'nft';
const NS = `quell-test-${randomBytes(4).toString('hex')}`;

function run(cmd: string, args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 10_000,
    ...(input !== undefined ? { input } : {}),
  });
  return {
    ok: r.status === 0,
    out: r.stdout ?? '',
    err: (r.stderr ?? '') + (r.error ? String(r.error.message) : ''),
  };
}

function probe(): string | undefined {
  const version = run(NFT, ['--version']);
  if (!version.ok)
    return `the nft binary (${NFT}) is not available: ${version.err.trim() || 'not found'} (install nftables)`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return 'not running as root (netns and nft need CAP_NET_ADMIN)';
  // A throw-away namespace: the suite's own is made in beforeAll, so a filtered run cannot leak it.
  const probeNs = `${NS}-probe`;
  const add = run('ip', ['netns', 'add', probeNs]);
  if (!add.ok) return `cannot create a network namespace: ${add.err.trim()}`;
  const list = run('ip', ['netns', 'exec', probeNs, NFT, 'list', 'ruleset']);
  run('ip', ['netns', 'del', probeNs]);
  if (!list.ok) return `nft cannot talk to the kernel inside a netns: ${list.err.trim()}`;
  return undefined;
}

const skipReason = probe();
if (skipReason) console.warn(`SKIPPED nftables: ${skipReason}`);
const describeKernel = skipReason ? describe.skip : describe;

function inNs(args: string[], input?: string) {
  return run('ip', ['netns', 'exec', NS, ...args], input);
}

/** Whether a TCP connection to addr:port (listened on inside the namespace) gets through. */
function tcpGetsThrough(addr: string): boolean {
  const script = `
    const net = require('net');
    const srv = net.createServer((s) => s.end()).listen(7777, '${addr}', () => {
      const c = net.connect(7777, '${addr}');
      c.on('connect', () => { console.log('open'); process.exit(0); });
      c.setTimeout(400, () => { console.log('dropped'); process.exit(0); });
      c.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
    });`;
  const r = inNs([process.execPath, '-e', script]);
  return r.out.trim() === 'open';
}

describeKernel('nftables firewall against the real kernel (network namespace)', () => {
  const fw = new NftablesFirewall({ nftPath: NFT, netns: NS, timeoutMs: 5_000 });

  beforeAll(() => {
    const add = run('ip', ['netns', 'add', NS]);
    if (!add.ok) throw new Error(`ip netns add ${NS} failed: ${add.err}`);
    inNs(['ip', 'link', 'set', 'lo', 'up']);
    inNs(['ip', 'addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
  });

  afterAll(() => {
    run('ip', ['netns', 'del', NS]);
  });

  it('creates the quell table with its sets and drop rules, idempotently', async () => {
    await fw.ensureTable();
    await new NftablesFirewall({ nftPath: NFT, netns: NS }).ensureTable();
    const table = JSON.parse(inNs([NFT, '-j', 'list', 'table', 'inet', 'quell']).out) as {
      nftables: Record<string, unknown>[];
    };
    const sets = table.nftables.filter((x) => 'set' in x).map((x) => x.set as { name: string; type: string });
    expect(sets.map((s) => `${s.name}:${s.type}`).sort()).toEqual([
      'blocked_ipv4:ipv4_addr',
      'blocked_ipv6:ipv6_addr',
    ]);
    const rules = table.nftables.filter((x) => 'rule' in x);
    expect(rules).toHaveLength(8); // laid again, not duplicated
    const chains = table.nftables.filter((x) => 'chain' in x).map((x) => (x.chain as { name: string }).name);
    expect(chains.sort()).toEqual(['forward', 'input', 'output']);
  });

  it('blocks an address so traffic to it is dropped; a repeat is already in state', async () => {
    expect(tcpGetsThrough('10.99.0.1')).toBe(true);
    const ctx = actionCtx('INC-NFT-1', 'exfil');
    const first = await fw.blockIp('10.99.0.1', ctx);
    expect(first.alreadyInState).toBe(false);
    expect(await fw.getIpState('10.99.0.1')).toBe('blocked');
    expect((await fw.blockIp('10.99.0.1', ctx)).alreadyInState).toBe(true);
    expect(tcpGetsThrough('10.99.0.1')).toBe(false);
    const set = inNs([NFT, '-j', 'list', 'set', 'inet', 'quell', 'blocked_ipv4']).out;
    expect(set).toContain('Quell INC-NFT-1 exfil');
    expect(parseNftSetElements(set).map((e) => e.value)).toEqual(['10.99.0.1']);
  });

  it('unblocks, restoring traffic; a repeat is already in state', async () => {
    await fw.blockIp('10.99.0.1', actionCtx());
    expect((await fw.unblockIp('10.99.0.1', actionCtx())).alreadyInState).toBe(false);
    expect(await fw.getIpState('10.99.0.1')).toBe('allowed');
    expect((await fw.unblockIp('10.99.0.1', actionCtx())).alreadyInState).toBe(true);
    expect(tcpGetsThrough('10.99.0.1')).toBe(true);
  });

  it('handles IPv6 and CIDR ranges; an address inside a blocked range is already blocked', async () => {
    expect((await fw.blockIp('2001:DB8::7', actionCtx())).alreadyInState).toBe(false);
    expect(await fw.getIpState('2001:db8::7')).toBe('blocked');
    expect((await fw.blockIp('198.51.100.9/24', actionCtx())).alreadyInState).toBe(false);
    expect(await fw.getIpState('198.51.100.200')).toBe('blocked');
    expect((await fw.blockIp('198.51.100.44', actionCtx())).alreadyInState).toBe(true);
    await expectConnectorError(fw.unblockIp('198.51.100.44', actionCtx()), 'conflict');
    expect((await fw.unblockIp('198.51.100.0/24', actionCtx())).alreadyInState).toBe(false);
    expect(await fw.getIpState('198.51.100.200')).toBe('allowed');
    expect((await fw.unblockIp('2001:db8::7', actionCtx())).alreadyInState).toBe(false);
  });

  it('treats "element exists" / "no such element" from a race as already in state', async () => {
    // Another process adds the element between our look-up and our create: nft says "File exists".
    await fw.ensureTable();
    const raced = new NftablesFirewall({ nftPath: NFT, netns: NS });
    const res = raced.exec(['-f', '-'], 'create element inet quell blocked_ipv4 { 10.98.0.1 }\n');
    expect((await res).code).toBe(0);
    const again = await raced.exec(['-f', '-'], 'create element inet quell blocked_ipv4 { 10.98.0.1 }\n');
    expect(again.stderr).toMatch(/File exists/);
    const gone = await raced.exec(['-f', '-'], 'delete element inet quell blocked_ipv4 { 10.98.0.2 }\n');
    expect(gone.stderr).toMatch(/element does not exist|No such file or directory/);
    expect((await fw.blockIp('10.98.0.1', actionCtx())).alreadyInState).toBe(true);
  });

  it('refuses domains and malformed addresses with PermanentConnectorError', async () => {
    await expectConnectorError(fw.blockDomain('evil.example', actionCtx()), 'permanent');
    await expectConnectorError(fw.unblockDomain('evil.example', actionCtx()), 'permanent');
    await expectConnectorError(fw.getDomainState('evil.example'), 'permanent');
    await expectConnectorError(fw.blockIp('10.0.0.1; flush ruleset', actionCtx()), 'permanent');
  });

  it('reports a missing namespace or binary as PermanentConnectorError', async () => {
    const missingNs = new NftablesFirewall({ nftPath: NFT, netns: `${NS}-absent` });
    await expectConnectorError(missingNs.getIpState('10.0.0.1'), 'permanent');
    const missingBin = new NftablesFirewall({ nftPath: '/nonexistent/nft' });
    const err = await expectConnectorError(missingBin.getIpState('10.0.0.1'), 'permanent');
    expect(err.message).toMatch(/not found/);
  });
});

describe('nftables JSON parsing', () => {
  it('reads plain, commented, prefix and single-address range elements', () => {
    const doc = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        {
          set: {
            name: 'blocked_ipv4',
            elem: [
              '10.0.0.1',
              { elem: { val: '10.0.0.2', comment: 'Quell INC-1' } },
              { prefix: { addr: '10.2.0.0', len: 16 } },
              { elem: { val: { prefix: { addr: '10.3.0.0', len: 24 } }, comment: 'x' } },
              { range: ['10.4.0.1', '10.4.0.1'] },
              { range: ['10.5.0.1', '10.5.0.9'] },
            ],
          },
        },
      ],
    });
    expect(parseNftSetElements(doc).map((e) => e.value)).toEqual([
      '10.0.0.1',
      '10.0.0.2',
      '10.2.0.0/16',
      '10.3.0.0/24',
      '10.4.0.1',
    ]);
    expect(parseNftSetElements(JSON.stringify({ nftables: [{ set: { name: 'empty' } }] }))).toEqual([]);
    expect(() => parseNftSetElements('not json')).toThrow(/unreadable/);
  });
});
