/**
 * `Prefer: wait=N` (RFC 7240 §4.3), which an agent sends to say how long it will wait for a response
 * before a 202 (AAuth -11 §Deferred Responses). `Prefer` is not a Structured Field: it uses the RFC 7240
 * grammar, read here by a small scanner.
 *
 *   Prefer     = 1#preference
 *   preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
 *   parameter  = token [ BWS "=" BWS word ]
 *   word       = token / quoted-string
 */

import { AAuthError } from '../errors.js';

export const PREFER = 'Prefer';

const MAX_PREFER_LENGTH = 8 * 1024;
/** RFC 9111 §1.2.2: a delta-seconds larger than 2^31 is taken as 2^31. */
const DELTA_SECONDS_MAX = 2 ** 31;

export interface Preference {
  /** The preference value, unquoted; `undefined` when the preference has none. */
  readonly value: string | undefined;
  /** Parameters by lowercase name (first instance wins). */
  readonly params: ReadonlyMap<string, string | undefined>;
}

const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~";
const isTchar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c < 128 && TCHAR_SYMBOLS.includes(String.fromCharCode(c)));
const isWs = (c: number): boolean => c === 0x20 || c === 0x09;

const syntax = (detail: string): AAuthError => new AAuthError('invalid_header', { detail: `Prefer: ${detail}` });

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): number {
    return this.s.charCodeAt(this.pos);
  }
  ws(): void {
    while (!this.done && isWs(this.peek())) this.pos++;
  }
  token(): string {
    const start = this.pos;
    while (!this.done && isTchar(this.peek())) this.pos++;
    if (this.pos === start) throw syntax('expected a token');
    return this.s.slice(start, this.pos);
  }
  word(): string {
    if (this.peek() !== 0x22) return this.token();
    this.pos++;
    let out = '';
    for (;;) {
      if (this.done) throw syntax('unterminated quoted-string');
      const c = this.peek();
      this.pos++;
      if (c === 0x22) return out;
      if (c === 0x5c) {
        if (this.done) throw syntax('unterminated quoted-string');
        out += this.s[this.pos];
        this.pos++;
        continue;
      }
      if (c < 0x20 && c !== 0x09) throw syntax('control character in quoted-string');
      out += String.fromCharCode(c);
    }
  }
  /** `token [ BWS "=" BWS word ]` */
  pair(): readonly [string, string | undefined] {
    const name = this.token().toLowerCase();
    const save = this.pos;
    this.ws();
    if (!this.done && this.peek() === 0x3d) {
      this.pos++;
      this.ws();
      return [name, this.word()];
    }
    this.pos = save;
    return [name, undefined];
  }
}

function lines(value: string | readonly string[]): string {
  const joined = typeof value === 'string' ? value : value.join(', ');
  if (joined.length > MAX_PREFER_LENGTH) throw syntax('too long');
  return joined;
}

/**
 * Parses `Prefer` (RFC 7240 §2) into preferences by lowercase name; when a preference appears more
 * than once only the first instance counts (RFC 7240 §2). Several field lines may be passed.
 * Malformed syntax → `invalid_header`.
 */
export function parsePrefer(value: string | readonly string[]): ReadonlyMap<string, Preference> {
  const s = new Scanner(lines(value));
  const preferences = new Map<string, Preference>();
  for (;;) {
    s.ws();
    while (!s.done && s.peek() === 0x2c) {
      s.pos++;
      s.ws();
    }
    if (s.done) break;
    const [name, pvalue] = s.pair();
    const params = new Map<string, string | undefined>();
    for (;;) {
      s.ws();
      if (s.done || s.peek() !== 0x3b) break;
      s.pos++;
      s.ws();
      if (!s.done && isTchar(s.peek())) {
        const [pname, v] = s.pair();
        if (!params.has(pname)) params.set(pname, v);
      }
    }
    if (!preferences.has(name)) preferences.set(name, { value: pvalue, params });
    s.ws();
    if (s.done) break;
    if (s.peek() !== 0x2c) throw syntax('expected "," between preferences');
  }
  return preferences;
}

/**
 * The `wait` preference in seconds (RFC 7240 §4.3: `delta-seconds`, a non-negative integer; values above
 * 2^31 read as 2^31). `undefined` when the header is absent, has no `wait`, has a `wait` that is not
 * delta-seconds, or is malformed: a server ignores preferences it cannot understand (RFC 7240 §2).
 */
export function parsePreferWait(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  let preferences: ReadonlyMap<string, Preference>;
  try {
    preferences = parsePrefer(value);
  } catch {
    return undefined;
  }
  const wait = preferences.get('wait')?.value;
  if (wait === undefined || wait.length === 0) return undefined;
  let seconds = 0;
  for (let i = 0; i < wait.length; i++) {
    const c = wait.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
    seconds = Math.min(seconds * 10 + (c - 0x30), DELTA_SECONDS_MAX);
  }
  return seconds;
}

/**
 * How long a server holds a request: the client's `wait`, no more than `max`, and `fallback` (default 0,
 * answer at once) when the client sent none. `max` and `fallback` are the server's policy.
 */
export function capPreferWait(requested: number | undefined, max: number, fallback = 0): number {
  if (!Number.isFinite(max) || max < 0 || !Number.isFinite(fallback) || fallback < 0) {
    throw new AAuthError('invalid_argument', { detail: 'wait bounds must be finite and non-negative' });
  }
  const wanted = requested === undefined || !Number.isFinite(requested) || requested < 0 ? fallback : requested;
  return Math.min(Math.floor(wanted), Math.floor(max));
}

/** Builds `Prefer: wait=N` (RFC 7240 §4.3); `N` must be a non-negative safe integer, else `invalid_argument`. */
export function serializePreferWait(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new AAuthError('invalid_argument', { detail: 'wait must be a non-negative integer number of seconds' });
  }
  return `wait=${seconds}`;
}
