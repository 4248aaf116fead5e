/**
 * Safe rendering of Markdown written by others (resource descriptions, justifications, mission text).
 * AAuth -11 §Terminology (Markdown): implementations MUST sanitize Markdown before rendering it (§8.66).
 *
 * Not a CommonMark implementation: a small, closed subset rendered by construction, never by filtering HTML.
 * All input text is escaped; the only elements produced are `<p>`, `<br>`, `<ul>`/`<li>`, `<strong>`, `<em>`,
 * `<code>` and `<a>` — links only to `https:` URLs, with `rel="noopener noreferrer nofollow"`. Raw HTML in the
 * input is shown as text.
 */

/** Longest input rendered; the rest is cut (a description is not a document). */
export const MAX_MARKDOWN_LENGTH = 10_000;
/** Deepest nesting of emphasis. */
const MAX_DEPTH = 4;

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

/** An `https:` URL for a link, normalized by the URL parser; undefined for any other scheme or a bad URL. */
export function safeLinkUrl(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (trimmed.length === 0 || trimmed.length > 2048) return undefined;
  try {
    const url = new URL(trimmed);
    return url.protocol === 'https:' && url.username === '' && url.password === '' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Index of the `)` that closes a link destination starting at `from` (balanced parentheses), or -1. */
function closingParen(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth += 1;
    else if (ch === ')') {
      if (depth === 0) return i;
      depth -= 1;
    } else if (ch === '\n') return -1;
  }
  return -1;
}

/** Renders the inline subset of one block: `code`, **bold**, *italic*, [text](https://…). */
function renderInline(text: string, depth = 0): string {
  let out = '';
  let plain = '';
  const flush = () => {
    out += escapeHtml(plain);
    plain = '';
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length && /[\\`*_[\]()]/.test(text[i + 1]!)) {
      plain += text[i + 1]!;
      i += 2;
      continue;
    }
    if (ch === '`') {
      const end = text.indexOf('`', i + 1);
      if (end > i + 1) {
        flush();
        out += `<code>${escapeHtml(text.slice(i + 1, end))}</code>`;
        i = end + 1;
        continue;
      }
    }
    if (ch === '*' && text[i + 1] === '*' && depth < MAX_DEPTH) {
      const end = text.indexOf('**', i + 2);
      if (end > i + 2) {
        flush();
        out += `<strong>${renderInline(text.slice(i + 2, end), depth + 1)}</strong>`;
        i = end + 2;
        continue;
      }
    }
    if ((ch === '*' || ch === '_') && depth < MAX_DEPTH && text[i + 1] !== undefined && text[i + 1] !== ' ' && text[i + 1] !== ch) {
      const end = text.indexOf(ch, i + 1);
      if (end > i + 1 && text[end - 1] !== ' ') {
        flush();
        out += `<em>${renderInline(text.slice(i + 1, end), depth + 1)}</em>`;
        i = end + 1;
        continue;
      }
    }
    if (ch === '[' && depth < MAX_DEPTH) {
      const close = text.indexOf('](', i + 1);
      const end = close < 0 ? -1 : closingParen(text, close + 2);
      if (close > i && end > close) {
        flush();
        const label = renderInline(text.slice(i + 1, close), depth + 1);
        const href = safeLinkUrl(text.slice(close + 2, end));
        // A link to anything but https (javascript:, data:, http:, relative) keeps only its text.
        out += href === undefined ? label : `<a href="${escapeHtml(href)}" rel="noopener noreferrer nofollow">${label}</a>`;
        i = end + 1;
        continue;
      }
    }
    plain += ch;
    i += 1;
  }
  flush();
  return out;
}

const BULLET = /^\s{0,3}[-*+]\s+/;

/** Renders a paragraph's lines; a line break inside a paragraph becomes `<br>`. */
function renderParagraph(lines: readonly string[]): string {
  return `<p>${lines.map((l) => renderInline(l.trim().replace(/^#{1,6}\s+/, ''))).join('<br>')}</p>`;
}

/**
 * Renders untrusted Markdown to HTML that is safe to insert as-is: paragraphs, line breaks, bullet lists,
 * `code`, **bold**, *italic* and https links. Everything else is text.
 */
export function renderMarkdown(markdown: string): string {
  const source = markdown.length > MAX_MARKDOWN_LENGTH ? `${markdown.slice(0, MAX_MARKDOWN_LENGTH)}…` : markdown;
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: string[] = [];
  let paragraph: string[] = [];
  let items: string[] = [];
  const endParagraph = () => {
    if (paragraph.length > 0) blocks.push(renderParagraph(paragraph));
    paragraph = [];
  };
  const endList = () => {
    if (items.length > 0) blocks.push(`<ul>${items.map((item) => `<li>${renderInline(item)}</li>`).join('')}</ul>`);
    items = [];
  };
  for (const line of lines) {
    if (line.trim().length === 0) {
      endParagraph();
      endList();
    } else if (BULLET.test(line)) {
      endParagraph();
      items.push(line.replace(BULLET, '').trim());
    } else if (items.length > 0 && /^\s+/.test(line)) {
      items[items.length - 1] += ` ${line.trim()}`;
    } else {
      endList();
      paragraph.push(line);
    }
  }
  endParagraph();
  endList();
  return blocks.join('\n');
}

/** Plain text of untrusted Markdown, for places that take no markup (titles, summaries). */
export function markdownToText(markdown: string): string {
  return markdown.replace(/[`*_]/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').trim();
}
