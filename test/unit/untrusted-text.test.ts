import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { formatTimelineLine, type TimelineEntry } from '../../src/audit/timeline';
import { plainLine, slackBlocks } from '../../src/connectors/notify/channel';
import type { Notification } from '../../src/connectors/types';
import {
  htmlText,
  markdownCode,
  markdownCodeBlock,
  markdownText,
  normalizedLine,
  normalizedText,
  oneLine,
  slackText,
} from '../../src/domain/untrusted-text';
import { sampleState } from '../api/support/fake-incidents';

const FORGED = 'Ransomware\r\n\r\n## Approvals\r\n- apr-9 approved by CISO (forged)\r\n';

describe('untrusted text, rendered', () => {
  it('oneLine shows every control character as an escape instead of letting it act', () => {
    expect(oneLine(FORGED)).toBe(
      'Ransomware\\r\\n\\r\\n## Approvals\\r\\n- apr-9 approved by CISO (forged)\\r\\n',
    );
    expect(oneLine('ws-1\u001b[31mred\u0000')).toBe('ws-1\\u001b[31mred\\u0000');
    expect(oneLine('invoice\u202egpj.exe')).toBe('invoice\\u202egpj.exe');
    expect(oneLine('a\u2028b\u2029c\u0085d')).toBe('a\\u2028b\\u2029c\\u0085d');
    expect(oneLine('plain ümlaut text — fine')).toBe('plain ümlaut text — fine');
  });

  it('markdownText neutralises inline Markdown and block starts', () => {
    expect(markdownText('**bold** [link](http://x) <img src=x> | ~~s~~ `c`')).toBe(
      '\\*\\*bold\\*\\* \\[link\\](http://x) \\<img src=x\\> \\| \\~\\~s\\~\\~ \\`c\\`',
    );
    expect(markdownText('## heading')).toBe('\\## heading');
    expect(markdownText('- item')).toBe('\\- item');
    expect(markdownText('12. item')).toBe('12\\. item');
    expect(markdownText(FORGED)).not.toMatch(/[\r\n]/);
  });

  it('markdownCode fences a code span longer than any backtick run inside it', () => {
    expect(markdownCode('ws-fin-042')).toBe('`ws-fin-042`');
    expect(markdownCode('a`b')).toBe('``a`b``');
    expect(markdownCode('`x`')).toBe('`` `x` ``');
    expect(markdownCode('x|y')).toBe('`x\\|y`');
  });

  it('markdownCodeBlock fences longer than the content can close', () => {
    const block = markdownCodeBlock(['```', 'evil ````'], 'text');
    expect(block[0]).toBe('`````text');
    expect(block[block.length - 1]).toBe('`````');
  });

  it('slackText and htmlText escape their formats', () => {
    expect(slackText('<!channel> & <https://evil|click>')).toBe(
      '&lt;!channel&gt; &amp; &lt;https://evil|click&gt;',
    );
    expect(htmlText(`<script>alert("x")</script>'`)).toBe(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;',
    );
  });

  it('normalizedLine and normalizedText keep the words and drop the layout tricks', () => {
    expect(normalizedLine(FORGED)).toBe('Ransomware ## Approvals - apr-9 approved by CISO (forged)');
    expect(normalizedLine('a\u0000b\u202ec')).toBe('a\ufffdb\ufffdc');
    expect(normalizedText('line 1\r\nline 2\ttab\u001b')).toBe('line 1\nline 2\ttab\ufffd');
  });
});

describe('the report and messages with a forged alert title', () => {
  const state = () => {
    const s = sampleState();
    s.title = FORGED;
    s.scope.hosts = ['ws`host'];
    s.notes = [
      {
        noteId: 'note-1',
        kind: 'lessons_learned',
        text: '# heading\n## Approvals',
        author: 'rita',
        at: s.openedAt,
      },
    ];
    return s;
  };
  const entry = (summary: string): TimelineEntry => ({
    seq: 0,
    at: '2026-11-28T09:00:00.000Z',
    kind: 'alert_received',
    summary,
    runId: 'run-0001',
    eventIds: [5],
    refs: [{ runId: 'run-0001', eventId: 5, eventType: 'WorkflowExecutionUpdateAccepted' }],
    details: {},
  });

  it('the Markdown report has exactly the sections Quell wrote, whatever the title says', () => {
    const md = renderReportMarkdown(
      buildReport(state(), [entry(`Alert received: ${FORGED}`), entry('```\n## Approvals')]),
    );
    const lines = md.split('\n');
    expect(lines.filter((l) => l === '## Approvals')).toHaveLength(1);
    expect(lines.filter((l) => /^#{1,6} /.test(l)).map((l) => l.replace(/^#+ /, ''))).toEqual([
      expect.stringContaining('Post-incident report'),
      'Summary',
      'Metrics',
      'Scope',
      'Phases',
      'Actions',
      'Approvals',
      'Evidence',
      'Notifications',
      'Eradication checklist',
      'Lessons learned',
      'Timeline',
    ]);
    expect(lines.some((l) => l.startsWith('- apr-9'))).toBe(false);
    expect(md).not.toContain('\r');
    // The forgery stays visible as what it is: the escapes show, the heading marks sit mid-line.
    expect(md).toContain('Ransomware\\\\r\\\\n\\\\r\\\\n## Approvals\\\\r\\\\n- apr-9');
    // The timeline's code block cannot be closed from inside.
    const fenceLines = lines.filter((l) => /^`{3,}/.test(l));
    expect(fenceLines).toHaveLength(2);
  });

  it('timeline lines for terminals are single lines', () => {
    const line = formatTimelineLine(entry(`x${FORGED}\u001b[2J`));
    expect(line).not.toMatch(/[\r\n]/);
    expect(line).not.toContain('\u001b');
  });

  it('Slack and plain-text lines carry the prefix once and no forged line', () => {
    const n: Notification = {
      route: 'soc',
      incidentId: 'INC-0000000000000000-000000',
      subject: `approval apr-1 waiting ${FORGED}`,
      text: `Why: ${FORGED} <!channel>`,
      severity: 'high',
      dedupKey: 'INC-0000000000000000-000000',
      idempotencyKey: 'k',
    };
    const line = plainLine(n);
    expect(line.match(/\[HIGH\]/g)).toHaveLength(1);
    expect(line).not.toMatch(/[\r\n]/);
    const blocks = JSON.stringify(slackBlocks(n));
    expect(blocks).not.toContain('<!channel>');
    expect(blocks).toContain('&lt;!channel&gt;');
  });
});
