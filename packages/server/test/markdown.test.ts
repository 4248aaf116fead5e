import { describe, expect, it } from 'vitest';
import { escapeHtml, markdownToText, renderMarkdown, safeLinkUrl } from '../src/ui/markdown.js';

/** No element or attribute other than the renderer's own vocabulary may appear in its output. */
function assertInert(html: string): void {
  const tags = [...html.matchAll(/<(\/?)([a-zA-Z0-9]+)([^>]*)>/g)];
  for (const [, closing, name, attrs] of tags) {
    expect(['p', 'br', 'ul', 'li', 'strong', 'em', 'code', 'a']).toContain(name!.toLowerCase());
    if (name === 'a' && closing === '') expect(attrs).toMatch(/^ href="https:\/\/[^"<>]*" rel="noopener noreferrer nofollow"$/);
    else expect(attrs).toBe('');
  }
}

describe('Markdown rendering of untrusted text', () => {
  it('renders paragraphs, line breaks, bold, italic, code and lists', () => {
    const html = renderMarkdown('Hello **world** and *you*\nnext `a<b>`\n\n- one\n- two **x**');
    expect(html).toBe('<p>Hello <strong>world</strong> and <em>you</em><br>next <code>a&lt;b&gt;</code></p>\n<ul><li>one</li><li>two <strong>x</strong></li></ul>');
  });

  it('renders https links with rel="noopener noreferrer nofollow"', () => {
    expect(renderMarkdown('See [the docs](https://docs.example/a?b=1&c=2).')).toBe(
      '<p>See <a href="https://docs.example/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">the docs</a>.</p>',
    );
  });

  it('[§8.66] script tags are escaped, never emitted', () => {
    const html = renderMarkdown('<script>alert(1)</script> **<img src=x onerror=alert(1)>**');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    assertInert(html);
  });

  it('[§8.66] javascript:, data:, http: and relative links keep only their text', () => {
    for (const href of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' javascript:alert(1)', 'data:text/html;base64,PHNjcmlwdD4=', 'http://plain.example', '/relative', 'vbscript:x', 'https://user:pw@x.example']) {
      const html = renderMarkdown(`[click](${href})`);
      expect(html).toBe('<p>click</p>');
    }
  });

  it('[§8.66] on* attributes and quote breaking stay inert text', () => {
    const inputs = [
      '<a href="https://x.example" onclick="alert(1)">x</a>',
      '[x](https://x.example/" onmouseover="alert(1))',
      '[x"><svg onload=alert(1)>](https://x.example)',
      '<div style="background:url(javascript:alert(1))">',
      '`</code><script>alert(1)</script>`',
      '**[a](https://ok.example)** *<iframe src=https://evil.example>*',
    ];
    for (const input of inputs) {
      const html = renderMarkdown(input);
      assertInert(html);
      expect(html).not.toMatch(/<[^>]+\son[a-z]+=/i);
      expect(html).not.toMatch(/<(script|svg|iframe|div|img)/i);
    }
  });

  it('escapes every HTML-significant character', () => {
    expect(escapeHtml(`<&>"'`)).toBe('&lt;&amp;&gt;&quot;&#39;');
  });

  it('accepts only https link URLs', () => {
    expect(safeLinkUrl('https://a.example/x')).toBe('https://a.example/x');
    expect(safeLinkUrl('data:text/html,x')).toBeUndefined();
    expect(safeLinkUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeLinkUrl('nonsense')).toBeUndefined();
  });

  it('caps very long input and deep nesting without throwing', () => {
    const long = renderMarkdown('*'.repeat(50_000) + '[x](https://a.example)'.repeat(1000));
    assertInert(long);
    expect(long.length).toBeLessThan(200_000);
    assertInert(renderMarkdown('**'.repeat(200) + 'x' + '**'.repeat(200)));
  });

  it('markdownToText strips the markup', () => {
    expect(markdownToText('**Read** [docs](https://x.example) `now`')).toBe('Read docs now');
  });
});
