/**
 * The HTTP message model the signature layer works on. It is deliberately smaller than a
 * fetch `Request`: header *field lines* in order (so duplicates can be combined exactly as
 * RFC 9421 §2.1 says), the target URI, and an optional body.
 */

/** Header field lines as received, in order; names in any case. */
export type HeaderLines = ReadonlyArray<readonly [name: string, value: string]>;

/** Anything from which header field lines can be read. */
export type HeadersInit = Headers | HeaderLines | Readonly<Record<string, string | readonly string[]>>;

export interface HttpRequestMessage {
  readonly method: string;
  /** The absolute target URI (`https://host/path?query`). */
  readonly url: string;
  readonly headers: HeadersInit;
  readonly body?: Uint8Array | undefined;
}

export interface HttpResponseMessage {
  readonly status: number;
  readonly headers: HeadersInit;
  readonly body?: Uint8Array | undefined;
}

export type HttpMessage = HttpRequestMessage | HttpResponseMessage;

export const isRequestMessage = (m: HttpMessage): m is HttpRequestMessage => 'method' in m;

/**
 * Normalizes header lines to a map of lowercase name → list of raw values, in order.
 * `Headers` objects already combine duplicates with ", " (which is the RFC 9421 §2.1 combination),
 * so they yield one value per name.
 */
export function headerLines(init: HeadersInit): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  if (typeof Headers !== 'undefined' && init instanceof Headers) {
    init.forEach((value, name) => add(name, value));
  } else if (Array.isArray(init)) {
    for (const [name, value] of init as HeaderLines) add(name, value);
  } else {
    for (const [name, value] of Object.entries(init as Record<string, string | readonly string[]>)) {
      if (typeof value === 'string') add(name, value);
      else for (const v of value) add(name, v);
    }
  }
  return map;
}

/** The first combined value of a header, per RFC 9110 §5.3 (lines joined by ", "), or undefined. */
export function headerValue(lines: Map<string, string[]>, name: string): string | undefined {
  const list = lines.get(name.toLowerCase());
  if (!list) return undefined;
  return list.map((v) => v.trim()).join(', ');
}

/**
 * Header field lines from Node's `rawHeaders` (`[name, value, name, value, …]`), in order, duplicates kept: the
 * verifier combines them per RFC 9421 §2.1. HTTP/2 pseudo-header fields (`:path`, …) are not header fields and are
 * left out. Reading these lines builds no `Headers` object (which validates and sorts every field again).
 */
export function headerLinesFromRaw(raw: readonly string[]): [string, string][] {
  const lines: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) !== 0x3a) lines.push([name, raw[i + 1] as string]);
  }
  return lines;
}
