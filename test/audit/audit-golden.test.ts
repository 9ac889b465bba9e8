import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  assembleBundle,
  createSigner,
  formatVerifyResult,
  verifyBundle,
  type AuditBundle,
  type BundleParts,
  type VerifyOptions,
  type VerifyResult,
} from '../../src/audit/bundle';
import type { IncidentHistoryExport } from '../../src/audit/history';
import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { evidenceManifest } from '../../src/audit/service';
import { buildTimeline, stateFromHistory } from '../../src/audit/timeline';
import { allCommittedExports } from './helpers';

/**
 * Characterisation of the report and the audit bundle: for every committed history (test/histories and
 * legacy/), the report JSON and Markdown (also without the history, cut short, and with hostile text in every
 * field), a signed bundle assembled from them, and what `verifyBundle` says about it intact and tampered with,
 * must stay byte for byte what golden/audit.json recorded. A refactoring of src/audit/ must not move them.
 *
 * After a deliberate change of the report or the bundle, or re-recorded histories, rewrite the golden file
 * with `UPDATE_AUDIT_GOLDEN=1 npx jest test/audit/audit-golden.test.ts` and review its diff.
 */
const GOLDEN = path.join(__dirname, 'golden', 'audit.json');

const NOW = new Date('2026-01-01T00:00:00.000Z');
/** A fixed Ed25519 test key (PKCS#8 DER, base64): Ed25519 signatures are deterministic. */
const SIGNER = createSigner('MC4CAQAwBQYDK2VwBCIEIC9SCBmWo6sBv2HRH4Bo9QeDtlzNYyl4xUCkVbD61yCH');
/** The public key of another Ed25519 key (SPKI DER, base64). */
const OTHER_PUBLIC_KEY = 'MCowBQYDK2VwAyEAAop0EhTxTKH1O797f/iBWQXaRlQABlWRgJE2o5bXLJo=';
/** Text that Markdown, a terminal or a bidi renderer would act on. */
const HOSTILE = ' <b>*x*</b> | [l](http://e.test) `c` _u_ ~~s~~\n# h\r\u202e\u0007 @here';
const GENESIS = '0'.repeat(64);
/** Bundles with more entries than this (the continue-as-new chains) get the core tampered copies only. */
const LONG_CHAIN = 500;

interface GoldenEntry {
  reportSha256: string;
  markdownSha256: string;
  markdownLines: number;
  withoutHistorySha256: string;
  shortMarkdownSha256: string;
  hostileMarkdownSha256: string;
  bundle: { entries: number; counts: Record<string, number>; headHash: string; sha256: string };
  verify: { sha256: string; cases: Record<string, string> };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

function hostile<T>(value: T): T {
  if (typeof value === 'string') return (value + HOSTILE) as T;
  if (Array.isArray(value)) return value.map(hostile) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hostile(v)])) as T;
  return value;
}

/** The bundle (as parsed from its file, a fresh copy each time) tampered with in one way. */
type Tamper = (b: AuditBundle) => unknown;

/**
 * The tampered copies verified: the bundle intact, an entry changed, removed or swapped, a bad signature; and,
 * for all but the long continue-as-new chains (which would take most of the suite's time to verify a dozen
 * times over), every other finding `verifyBundle` names.
 */
function tampers(parts: BundleParts, every: boolean): Record<string, { doc: Tamper; opts?: VerifyOptions }> {
  const mid = (b: AuditBundle) => Math.floor(b.entries.length / 2);
  const trusted: VerifyOptions = { trustedPublicKey: SIGNER.publicKey };
  const core: Record<string, { doc: Tamper; opts?: VerifyOptions }> = {
    intact: { doc: (b) => b, opts: trusted },
    'changed entry': {
      doc: (b) => {
        (b.entries[mid(b)]!.body as Record<string, unknown>).tampered = true;
        return b;
      },
      opts: trusted,
    },
    'removed entry': { doc: (b) => (b.entries.splice(mid(b), 1), b), opts: trusted },
    'swapped entries': {
      doc: (b) => {
        const i = mid(b);
        [b.entries[i], b.entries[i + 1]] = [b.entries[i + 1]!, b.entries[i]!];
        return b;
      },
      opts: trusted,
    },
    'bad signature': {
      doc: (b) => {
        const sig = Buffer.from(b.manifest.signature!.value, 'base64');
        sig[0] = sig[0]! ^ 1;
        b.manifest.signature!.value = sig.toString('base64');
        return b;
      },
      opts: trusted,
    },
  };
  if (!every) return core;
  return {
    ...core,
    'intact, no trusted key': { doc: (b) => b },
    'intact, another trusted key': { doc: (b) => b, opts: { trustedPublicKey: OTHER_PUBLIC_KEY } },
    'unsigned, signature required': {
      doc: (b) => (delete b.manifest.signature, b),
      opts: { requireSignature: true },
    },
    'removed last entry': { doc: (b) => (b.entries.pop(), b), opts: trusted },
    'moved entry': { doc: (b) => (b.entries.push(...b.entries.splice(1, 1)), b), opts: trusted },
    'inserted entry': {
      doc: (b) => {
        b.entries.splice(mid(b), 0, { ...b.entries[mid(b)]!, id: 'timeline:forged' });
        return b;
      },
      opts: trusted,
    },
    'appended entry': {
      doc: (b) => (b.entries.push({ ...b.entries[0]!, seq: b.entries.length, id: 'forged' }), b),
      opts: trusted,
    },
    'stored hash edited': { doc: (b) => ((b.entries[mid(b)]!.hash = 'f'.repeat(64)), b), opts: trusted },
    'key ID edited': {
      doc: (b) => ((b.manifest.signature!.keyId = 'ed25519:0000000000000000'), b),
      opts: trusted,
    },
    'head hash edited': { doc: (b) => ((b.manifest.headHash = GENESIS), b), opts: trusted },
    'entry count edited': { doc: (b) => ((b.manifest.entryCount += 1), b), opts: trusted },
    'timeline not from the history (re-signed)': {
      doc: () => clone(assembleBundle({ ...parts, timeline: parts.timeline.slice(0, -1) }, SIGNER)),
      opts: trusted,
    },
    'not a bundle': { doc: () => ({ format: 'quell.something-else/v1', entries: [] }) },
  };
}

function caseSummary(r: VerifyResult): string {
  const p = r.chain.firstProblem;
  const trusted = r.signature.trusted === undefined ? '' : r.signature.trusted ? ' trusted' : ' untrusted';
  return (
    `${r.ok ? 'ok' : 'FAILED'}; chain ${p ? `${p.kind} at ${p.position}` : 'intact'}; ` +
    `signature ${r.signature.status}${trusted}; consistency ${r.consistency.status}; ` +
    `${r.problems.length} problem(s)`
  );
}

async function characterise(exported: IncidentHistoryExport): Promise<GoldenEntry> {
  const timeline = buildTimeline(exported);
  const { state } = stateFromHistory(exported)!;
  const now = () => NOW;
  const report = buildReport(state, timeline, { exported, now });
  const markdown = renderReportMarkdown(report);
  const withoutHistory = buildReport(state, timeline, { stateSource: 'query', now });
  const parts: BundleParts = {
    exported,
    state,
    stateSource: 'history',
    timeline,
    report,
    reportMarkdown: markdown,
    evidence: await evidenceManifest({
      stored: exported,
      readable: exported,
      state,
      stateSource: 'history',
      timeline,
    }),
    createdAt: NOW.toISOString(),
  };
  const bundle = assembleBundle(parts, SIGNER);
  const file = JSON.stringify(bundle);
  const results: Record<string, VerifyResult> = {};
  for (const [name, { doc, opts }] of Object.entries(tampers(parts, bundle.entries.length <= LONG_CHAIN)))
    results[name] = await verifyBundle(doc(JSON.parse(file) as AuditBundle), opts);
  return {
    reportSha256: sha256(JSON.stringify(report)),
    markdownSha256: sha256(markdown),
    markdownLines: markdown.split('\n').length,
    withoutHistorySha256: sha256(JSON.stringify(withoutHistory) + renderReportMarkdown(withoutHistory)),
    shortMarkdownSha256: sha256(renderReportMarkdown(report, { maxTimelineEntries: 3 })),
    hostileMarkdownSha256: sha256(
      renderReportMarkdown(buildReport(hostile(state), hostile(timeline), { exported, now })),
    ),
    bundle: {
      entries: bundle.entries.length,
      counts: bundle.manifest.counts,
      headHash: bundle.manifest.headHash,
      sha256: sha256(file),
    },
    verify: {
      sha256: sha256(
        JSON.stringify(Object.entries(results).map(([name, r]) => [name, r, formatVerifyResult(r)])),
      ),
      cases: Object.fromEntries(Object.entries(results).map(([name, r]) => [name, caseSummary(r)])),
    },
  };
}

describe('audit golden: every committed history gives the recorded report and bundle', () => {
  let actual: Record<string, GoldenEntry>;
  const golden = (existsSync(GOLDEN) ? JSON.parse(readFileSync(GOLDEN, 'utf8')) : {}) as Record<
    string,
    GoldenEntry
  >;

  beforeAll(async () => {
    actual = {};
    for (const { name, exported } of allCommittedExports()) actual[name] = await characterise(exported);
    if (process.env.UPDATE_AUDIT_GOLDEN === '1')
      writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 2)}\n`);
  });

  it('covers exactly the committed histories', () => {
    expect(Object.keys(actual)).toEqual(Object.keys(golden));
    expect(Object.keys(actual)).toEqual(
      expect.arrayContaining(['continue-as-new', 'legacy/2026-11-28/continue-as-new']),
    );
  });

  it.each(Object.keys(golden))('%s', (name) => {
    expect(actual[name]).toEqual(golden[name]);
  });
});
