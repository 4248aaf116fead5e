/**
 * Component values (RFC 9421 §2.1, §2.2): HTTP field values and derived components, taken from a
 * *signature context* — the target message, what the signer or verifier knows about it, and, for a
 * signed response, the related request (§2.4).
 */

import { serializeInnerList } from 'structured-headers';
import { AAuthError, type ErrorCode } from '../errors.js';
import { headerLines, isRequestMessage, type HttpMessage, type HttpRequestMessage } from '../http-message.js';
import {
  isInnerList,
  parseSfDictionary,
  parseSfItem,
  parseSfList,
  serializeSfDictionary,
  serializeSfItem,
  serializeSfList,
  type List,
} from '../structured-fields.js';
import { DERIVED_COMPONENTS, type ComponentIdentifier } from './component.js';

/** The Structured Field type of a field, needed for `sf` (§2.1.1). */
export type StructuredFieldType = 'item' | 'list' | 'dictionary';

/**
 * Fields known to be Structured Fields, with their type: those of RFC 9421, RFC 9530, HTTP Signature
 * Keys -08 and AAuth -11, plus a few registered ones. Extend per context with `structuredFields`.
 */
export const KNOWN_STRUCTURED_FIELDS: Readonly<Record<string, StructuredFieldType>> = {
  'signature-input': 'dictionary',
  signature: 'dictionary',
  'accept-signature': 'dictionary',
  'content-digest': 'dictionary',
  'repr-digest': 'dictionary',
  'want-content-digest': 'dictionary',
  'want-repr-digest': 'dictionary',
  'signature-key': 'dictionary',
  'signature-error': 'dictionary',
  'signature-key-cache': 'dictionary',
  'accept-signature-scheme': 'list',
  'accept-signature-alg': 'list',
  'aauth-requirement': 'dictionary',
  'aauth-capabilities': 'list',
  'aauth-budget': 'dictionary',
  priority: 'dictionary',
  'cache-status': 'list',
  'proxy-status': 'list',
  'cdn-cache-control': 'dictionary',
  'client-cert': 'item',
  'client-cert-chain': 'list',
  'accept-ch': 'list',
};

export interface SignatureContextOptions {
  /** For a response: the request it answers, source of components with the `req` parameter (§2.4). */
  readonly related?: HttpRequestMessage | SignatureContext | undefined;
  /**
   * The request target exactly as on the HTTP/1.1 request line, when it is not the origin form
   * derived from the URL (absolute-form through a proxy, `*` for OPTIONS). §2.2.5.
   */
  readonly requestTarget?: string | undefined;
  /** Extra Structured Field types (lowercase field name → type) beyond {@link KNOWN_STRUCTURED_FIELDS}. */
  readonly structuredFields?: Readonly<Record<string, StructuredFieldType>> | undefined;
}

/** The target URI split into the parts the derived components use; parsed once per context. */
interface TargetUri {
  readonly scheme: string; // lowercased
  readonly authority: string; // normalized: host lowercased, default port removed
  readonly rawAuthority: string;
  readonly path: string; // raw, "/" when empty
  readonly query: string | undefined; // raw, without "?"
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' };

/**
 * The signature context of one message (RFC 9421 §1.1 "Signature Context"). Header lines are read
 * once and the target URI is parsed at most once, so building a signature base and reading the
 * Signature headers share the work.
 */
export class SignatureContext {
  readonly message: HttpMessage;
  /** Header field lines by lowercase name, in order. */
  readonly lines: Map<string, string[]>;
  readonly related: SignatureContext | undefined;
  readonly requestTarget: string | undefined;
  private readonly structuredFields: Readonly<Record<string, StructuredFieldType>> | undefined;
  private target: TargetUri | undefined;

  constructor(message: HttpMessage, options: SignatureContextOptions = {}) {
    if (message === null || typeof message !== 'object') {
      throw new AAuthError('invalid_argument', { detail: 'not an HTTP message' });
    }
    this.message = message;
    try {
      this.lines = headerLines(message.headers);
    } catch (cause) {
      throw new AAuthError('invalid_argument', { detail: 'unreadable header fields', cause });
    }
    for (const values of this.lines.values()) {
      for (const v of values) {
        if (typeof v !== 'string') throw new AAuthError('invalid_argument', { detail: 'a header field value is not a string' });
      }
    }
    const related = options.related;
    this.related = related === undefined || related instanceof SignatureContext ? related : new SignatureContext(related);
    this.requestTarget = options.requestTarget;
    this.structuredFields = options.structuredFields;
  }

  /** True when the target message is a request. */
  get isRequest(): boolean {
    return isRequestMessage(this.message);
  }

  /**
   * The component value for `id` (§2.5 step 2.4). The identifier must already be validated
   * ({@link validateComponentIdentifier}). Any value that cannot be derived → `AAuthError(code)`.
   */
  componentValue(id: ComponentIdentifier, code: ErrorCode = 'invalid_signature'): string {
    if (id.params.req === true) {
      // §2.4: `req` MUST NOT be used in a signature that targets a request.
      if (this.isRequest) fail(code, `"req" parameter on ${id.name} in a signature over a request (RFC 9421 §2.4)`);
      const related = this.related;
      if (related === undefined) return fail(code, `${id.name};req needs the related request`);
      return related.valueInContext(id, code);
    }
    return this.valueInContext(id, code);
  }

  private valueInContext(id: ComponentIdentifier, code: ErrorCode): string {
    return id.name.charCodeAt(0) === 0x40 ? this.derivedValue(id, code) : this.fieldValue(id, code);
  }

  /** Derived component values (§2.2). */
  private derivedValue(id: ComponentIdentifier, code: ErrorCode): string {
    const name = id.name;
    const target = DERIVED_COMPONENTS[name];
    if (target === undefined) return fail(code, `unknown derived component ${name}`);
    const message = this.message;
    if (target === 'response') {
      // §2.2.9: `@status` MUST NOT be used in a request message.
      if (isRequestMessage(message)) return fail(code, '"@status" is not available in a request (RFC 9421 §2.2.9)');
      const status = message.status;
      if (!Number.isInteger(status) || status < 100 || status > 999) return fail(code, 'response status is not a three-digit code');
      return String(status);
    }
    if (!isRequestMessage(message)) return fail(code, `${name} is taken from a request; use the "req" parameter in a response`);
    switch (name) {
      case '@method': {
        const method = message.method;
        if (typeof method !== 'string' || !isToken(method)) return fail(code, 'request method is not a token');
        return method;
      }
      case '@target-uri': {
        const t = this.targetUri(code);
        return t.scheme + '://' + t.authority + t.path + (t.query === undefined ? '' : '?' + t.query);
      }
      case '@authority':
        return this.targetUri(code).authority;
      case '@scheme':
        return this.targetUri(code).scheme;
      case '@request-target': {
        if (this.requestTarget !== undefined) return checkDerived(this.requestTarget, code, '@request-target');
        const t = this.targetUri(code);
        // CONNECT uses the authority-form (RFC 9112 §3.2.3); everything else the origin-form.
        if (message.method === 'CONNECT') return t.rawAuthority;
        return t.path + (t.query === undefined ? '' : '?' + t.query);
      }
      case '@path':
        return this.targetUri(code).path;
      case '@query': {
        const q = this.targetUri(code).query;
        return q === undefined ? '?' : '?' + q;
      }
      case '@query-param':
        return queryParamValue(this.targetUri(code).query ?? '', id.params.name ?? '', code);
      default:
        return fail(code, `unknown derived component ${name}`);
    }
  }

  /** HTTP field values (§2.1) with `sf`, `key` and `bs`. */
  private fieldValue(id: ComponentIdentifier, code: ErrorCode): string {
    const { name, params } = id;
    if (params.tr === true) return fail(code, `trailer fields ("tr") are not supported (${name})`);
    const lines = this.lines.get(name);
    if (lines === undefined) return fail(code, `covered field "${name}" is absent from the message`);
    if (params.bs === true) {
      // §2.1.3: each line, trimmed and unfolded, becomes a Byte Sequence; the List is serialized strictly.
      const list: List = lines.map((line) => [latin1Bytes(canonicalLine(line, name, code), name, code), new Map()]);
      return serializeSfList(list);
    }
    const combined = lines.length === 1 ? canonicalLine(lines[0]!, name, code) : lines.map((l) => canonicalLine(l, name, code)).join(', ');
    if (params.key !== undefined) {
      // §2.1.2: the member value of a Dictionary field, strictly serialized.
      const type = this.structuredFieldType(name);
      if (type !== undefined && type !== 'dictionary') return fail(code, `"${name}" is not a Dictionary field, "key" does not apply`);
      const dict = parseSfDictionary(combined, { code, field: name });
      const member = dict.get(params.key);
      if (member === undefined) return fail(code, `Dictionary field "${name}" has no member "${params.key}"`);
      return isInnerList(member) ? serializeInner(member, code) : serializeSfItem(member);
    }
    if (params.sf === true) {
      // §2.1.1: strict re-serialization needs the field's type.
      const type = this.structuredFieldType(name);
      if (type === undefined) return fail(code, `the Structured Field type of "${name}" is not known, "sf" cannot be used`);
      const opts = { code, field: name };
      if (type === 'dictionary') return serializeSfDictionary(parseSfDictionary(combined, opts));
      if (type === 'list') return serializeSfList(parseSfList(combined, opts));
      return serializeSfItem(parseSfItem(combined, opts));
    }
    return combined;
  }

  private structuredFieldType(name: string): StructuredFieldType | undefined {
    const extra = this.structuredFields;
    if (extra !== undefined && Object.hasOwn(extra, name)) return extra[name];
    return Object.hasOwn(KNOWN_STRUCTURED_FIELDS, name) ? KNOWN_STRUCTURED_FIELDS[name] : undefined;
  }

  private targetUri(code: ErrorCode): TargetUri {
    if (this.target === undefined) {
      const message = this.message;
      const url = isRequestMessage(message) ? message.url : undefined;
      if (typeof url !== 'string') return fail(code, 'the request has no target URI');
      this.target = parseTargetUri(url, code);
    }
    return this.target;
  }
}

const fail = (code: ErrorCode, detail: string): never => {
  throw new AAuthError(code, { detail });
};

function serializeInner(member: [unknown[], Map<string, unknown>], code: ErrorCode): string {
  try {
    return serializeInnerList(member as Parameters<typeof serializeInnerList>[0]);
  } catch (cause) {
    throw new AAuthError(code, { detail: 'cannot serialize an Inner List member', cause });
  }
}

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** §2.2: derived values are printable ASCII and spaces, never starting or ending with whitespace. */
function checkDerived(value: string, code: ErrorCode, what: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return fail(code, `${what} contains a character outside printable ASCII`);
  }
  if (value.length === 0 || value.charCodeAt(0) === 0x20 || value.charCodeAt(value.length - 1) === 0x20) {
    return fail(code, `${what} is empty or has surrounding whitespace`);
  }
  return value;
}

/**
 * Splits an absolute `scheme://authority/path?query#fragment` URI by position, without normalizing the
 * path or query (§2.2.6, §2.2.7: values before percent-decoding, RFC 3986 §6.2.1 simple comparison).
 * Only the scheme and authority are normalized (§2.2.3, §2.2.4; RFC 9110 §4.2.3).
 */
function parseTargetUri(url: string, code: ErrorCode): TargetUri {
  const len = url.length;
  for (let i = 0; i < len; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return fail(code, 'target URI contains a character outside visible ASCII');
  }
  const colon = url.indexOf(':');
  if (colon <= 0 || url.charCodeAt(colon + 1) !== 0x2f || url.charCodeAt(colon + 2) !== 0x2f) {
    return fail(code, 'target URI is not absolute with an authority');
  }
  const scheme = url.slice(0, colon).toLowerCase();
  for (let i = 0; i < scheme.length; i++) {
    const c = scheme.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e));
    if (!ok) return fail(code, 'target URI has an invalid scheme');
  }
  const start = colon + 3;
  let end = start;
  while (end < len) {
    const c = url.charCodeAt(end);
    if (c === 0x2f || c === 0x3f || c === 0x23) break;
    end++;
  }
  const rawAuthority = url.slice(start, end);
  const hash = url.indexOf('#', end);
  const stop = hash === -1 ? len : hash;
  const q = url.indexOf('?', end);
  const hasQuery = q !== -1 && q < stop;
  const rawPath = url.slice(end, hasQuery ? q : stop);
  return {
    scheme,
    authority: normalizeAuthority(rawAuthority, scheme, code),
    rawAuthority,
    path: rawPath === '' ? '/' : rawPath,
    query: hasQuery ? url.slice(q + 1, stop) : undefined,
  };
}

/** RFC 9110 §4.2.3 / RFC 9421 §2.2.3: host lowercased, default port omitted; userinfo is refused. */
function normalizeAuthority(raw: string, scheme: string, code: ErrorCode): string {
  if (raw.includes('@')) return fail(code, 'target URI authority must not carry userinfo');
  let host: string;
  let port: string;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close === -1) return fail(code, 'target URI has an unterminated IP literal');
    host = raw.slice(0, close + 1);
    const rest = raw.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return fail(code, 'target URI authority is malformed');
    port = rest.slice(1);
  } else {
    const c = raw.lastIndexOf(':');
    host = c === -1 ? raw : raw.slice(0, c);
    port = c === -1 ? '' : raw.slice(c + 1);
    if (host.includes(':') || host.includes('[') || host.includes(']')) return fail(code, 'target URI authority is malformed');
  }
  if (host === '') return fail(code, 'target URI has an empty host');
  for (let i = 0; i < port.length; i++) {
    const c = port.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return fail(code, 'target URI has a non-numeric port');
  }
  host = host.toLowerCase();
  if (port === '' || port === DEFAULT_PORTS[scheme]) return host;
  return host + ':' + port;
}

/** Trims SP/HTAB (§2.1 step 2) and replaces obs-fold with a single space (step 3); a bare CR or LF is an error. */
function canonicalLine(line: string, name: string, code: ErrorCode): string {
  let s = 0;
  let e = line.length;
  while (s < e && isWs(line.charCodeAt(s))) s++;
  while (e > s && isWs(line.charCodeAt(e - 1))) e--;
  let v = s === 0 && e === line.length ? line : line.slice(s, e);
  if (v.includes('\n') || v.includes('\r')) v = unfold(v, name, code);
  return v;
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x09;

function unfold(v: string, name: string, code: ErrorCode): string {
  let out = '';
  let i = 0;
  while (i < v.length) {
    const c = v.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) {
      let j = i + (c === 0x0d && v.charCodeAt(i + 1) === 0x0a ? 2 : 1);
      if (j >= v.length || !isWs(v.charCodeAt(j))) return fail(code, `field "${name}" contains a line break`);
      while (j < v.length && isWs(v.charCodeAt(j))) j++;
      // Whitespace before the fold is folded into the single space too.
      while (out.length > 0 && isWs(out.charCodeAt(out.length - 1))) out = out.slice(0, -1);
      out += ' ';
      i = j;
    } else {
      out += v[i];
      i++;
    }
  }
  return out;
}

/** The bytes of a field value as sent on the wire (ISO-8859-1 code points, as `Headers` holds them). */
function latin1Bytes(value: string, name: string, code: ErrorCode): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return fail(code, `field "${name}" contains a character that is not a byte`);
    out[i] = c;
  }
  return out;
}

/**
 * `@query-param` (§2.2.8): parse the query as application/x-www-form-urlencoded (WHATWG URL §5.1),
 * then percent-encode names and values again with the urlencoded percent-encode set, spaces as `%20`.
 * The `name` parameter holds the encoded name. A name that is absent, or that occurs more than once,
 * → error (RFC 9421 §2.2.8: repeated parameters cannot be covered individually).
 */
function queryParamValue(query: string, wanted: string, code: ErrorCode): string {
  let found: string | undefined;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    if (formEncode(formDecode(rawName)) !== wanted) continue;
    if (found !== undefined) return fail(code, `query parameter "${wanted}" occurs more than once`);
    found = formEncode(formDecode(rawValue));
  }
  if (found === undefined) return fail(code, `query parameter "${wanted}" is absent`);
  return found;
}

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** WHATWG application/x-www-form-urlencoded parsing of one name or value: `+` → space, then percent-decode, UTF-8 decode. */
function formDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  const src = s.replaceAll('+', ' ');
  const bytes: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0x25 && i + 2 < src.length && isHex(src.charCodeAt(i + 1)) && isHex(src.charCodeAt(i + 2))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c); // the query is visible ASCII, checked when the URI was parsed
    }
  }
  return utf8Decoder.decode(Uint8Array.from(bytes));
}

const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

const HEX = '0123456789ABCDEF';

/** Percent-encodes every byte of the UTF-8 encoding except ASCII alphanumerics and `*-._` (WHATWG urlencoded set, space as %20). */
function formEncode(s: string): string {
  let simple = true;
  for (let i = 0; i < s.length && simple; i++) simple = isUnreservedForm(s.charCodeAt(i));
  if (simple) return s;
  let out = '';
  for (const b of utf8Encoder.encode(s)) {
    if (isUnreservedForm(b)) out += String.fromCharCode(b);
    else out += '%' + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

function isUnreservedForm(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2a || c === 0x2d || c === 0x2e || c === 0x5f
  );
}
