/**
 * The console's link rule (src/console/web/links.ts): vendor- and alert-supplied addresses (VirusTotal report
 * links, ticket URLs) become links only when they are absolute http(s) URLs; everything else is shown as text.
 */
import { httpUrl } from '../../src/console/web/links';

describe('console links: only http(s) URLs become links', () => {
  it('takes absolute http and https URLs (normalized)', () => {
    expect(httpUrl('https://www.virustotal.com/gui/file/abc')).toBe(
      'https://www.virustotal.com/gui/file/abc',
    );
    expect(httpUrl('http://127.0.0.1:8080/browse/SOC-42')).toBe('http://127.0.0.1:8080/browse/SOC-42');
    expect(httpUrl('HTTPS://Jira.Example.COM/browse/SOC-1')).toBe('https://jira.example.com/browse/SOC-1');
  });

  it.each([
    'javascript:alert(1)',
    'JavaScript:alert(document.cookie)',
    '  javascript:alert(1)',
    '\tjava\nscript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    'ftp://example.com/x',
    '//evil.example/x',
    '/gui/file/abc',
    'gui/file/abc',
    'not a url',
    '',
  ])('refuses %j', (value) => {
    expect(httpUrl(value)).toBeUndefined();
  });

  it('refuses what is not a string', () => {
    expect(httpUrl(undefined)).toBeUndefined();
    expect(httpUrl(null)).toBeUndefined();
    expect(httpUrl(42)).toBeUndefined();
    expect(httpUrl({ href: 'https://example.com' })).toBeUndefined();
  });
});
