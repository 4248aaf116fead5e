/**
 * IP address parsing and classification for egress admission (AAuth -11 §Security Considerations;
 * HTTP Signature Keys -08 §Scheme-Specific Risks: "Reject private, loopback, and link-local destination
 * addresses unless explicitly allowed by deployment configuration").
 *
 * Every address form that reaches the same IPv4 host through IPv6 (IPv4-mapped, IPv4-compatible,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) is classified by the IPv4 address it embeds, so
 * `::ffff:10.0.0.1` and `::ffff:a00:1` are as private as `10.0.0.1`.
 */

/** What an address is, from the point of view of "may a verifier fetch from it". */
export type IpCategory =
  | 'public'
  | 'loopback' // 127.0.0.0/8, ::1
  | 'private' // 10/8, 172.16/12, 192.168/16, fec0::/10 (deprecated site-local), 64:ff9b:1::/48
  | 'unique-local' // fc00::/7
  | 'link-local' // 169.254/16, fe80::/10
  | 'cgnat' // 100.64/10
  | 'unspecified' // 0.0.0.0/8, ::
  | 'multicast' // 224/4, ff00::/8
  | 'broadcast' // 255.255.255.255
  | 'documentation' // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  | 'reserved' // everything else that is not globally routable unicast
  | 'invalid'; // not an IP address

/** A parsed address: 4 bytes for IPv4, 16 for IPv6 (network order). */
export type IpAddress = { readonly version: 4; readonly bytes: Uint8Array } | { readonly version: 6; readonly bytes: Uint8Array };

const DECIMAL = /^[0-9]+$/;
const OCTAL = /^0[0-7]*$/;
const HEX = /^0[xX][0-9a-fA-F]*$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** One part of a WHATWG IPv4 address: decimal, `0`-prefixed octal or `0x`-prefixed hex. */
function ipv4Number(part: string): number | undefined {
  if (part === '') return undefined;
  let value: number;
  if (HEX.test(part)) value = part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  else if (part.length > 1 && OCTAL.test(part)) value = Number.parseInt(part.slice(1), 8);
  else if (DECIMAL.test(part)) value = Number.parseInt(part, 10);
  else return undefined;
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Parses IPv4 the way the WHATWG URL parser does (`127.1`, `0x7f.0.0.1`, `0177.0.0.1` and `2130706433`
 * are all 127.0.0.1), so no spelling of an address slips past classification.
 */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = ipv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return undefined;
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  const bytes = new Uint8Array(4);
  numbers.forEach((n, i) => (bytes[i] = n));
  let rest = last;
  for (let i = 3; i >= numbers.length; i--) {
    bytes[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return bytes;
}

/** Strict dotted quad (used for the IPv4 tail of an IPv6 address). */
function parseDottedQuad(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!DECIMAL.test(part) || part.length > 3 || (part.length > 1 && part.startsWith('0'))) return undefined;
    const n = Number.parseInt(part, 10);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

/** Parses an IPv6 address (RFC 4291 §2.2), with optional brackets and zone identifier. */
export function parseIpv6(input: string): Uint8Array | undefined {
  let text = input;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) {
    if (zone === text.length - 1) return undefined;
    text = text.slice(0, zone);
  }
  if (!text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseDottedQuad(piece);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!HEX_GROUP.test(piece)) return undefined;
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  // An IPv4 tail is only allowed at the very end.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** Parses an IP literal (IPv4 in any WHATWG spelling, IPv6 with or without brackets). */
export function parseIpAddress(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  if (text.includes(':')) {
    const bytes = parseIpv6(text);
    return bytes === undefined ? undefined : { version: 6, bytes };
  }
  const bytes = parseIpv4(text);
  return bytes === undefined ? undefined : { version: 4, bytes };
}

function classifyV4(b: Uint8Array): IpCategory {
  const [a, c, d, e] = [b[0]!, b[1]!, b[2]!, b[3]!];
  if (a === 0) return 'unspecified';
  if (a === 10) return 'private';
  if (a === 127) return 'loopback';
  if (a === 100 && c >= 64 && c <= 127) return 'cgnat';
  if (a === 169 && c === 254) return 'link-local';
  if (a === 172 && c >= 16 && c <= 31) return 'private';
  if (a === 192 && c === 168) return 'private';
  if (a === 192 && c === 0 && d === 2) return 'documentation';
  if (a === 198 && c === 51 && d === 100) return 'documentation';
  if (a === 203 && c === 0 && d === 113) return 'documentation';
  if (a === 192 && c === 0 && d === 0) return 'reserved'; // IETF protocol assignments
  if (a === 192 && c === 88 && d === 99) return 'reserved'; // 6to4 relay anycast
  if (a === 198 && (c === 18 || c === 19)) return 'reserved'; // benchmarking
  if (a === 255 && c === 255 && d === 255 && e === 255) return 'broadcast';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved';
  return 'public';
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function classifyV6(b: Uint8Array): IpCategory {
  if (allZero(b, 0, 10)) {
    if (b[10] === 0xff && b[11] === 0xff) return classifyV4(b.subarray(12)); // ::ffff:0:0/96 mapped
    if (b[10] === 0 && b[11] === 0) {
      if (allZero(b, 12, 15) && b[15] === 0) return 'unspecified';
      if (allZero(b, 12, 15) && b[15] === 1) return 'loopback';
      return classifyV4(b.subarray(12)); // ::/96 IPv4-compatible (deprecated)
    }
  }
  // ::ffff:0:0:0/96 (SIIT translated) also reaches an IPv4 host.
  if (allZero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) return classifyV4(b.subarray(12));
  const g0 = (b[0]! << 8) | b[1]!;
  const g1 = (b[2]! << 8) | b[3]!;
  const g2 = (b[4]! << 8) | b[5]!;
  if (g0 === 0x0064 && g1 === 0xff9b) {
    if (allZero(b, 4, 12)) return classifyV4(b.subarray(12)); // 64:ff9b::/96 NAT64 well-known prefix
    if (g2 === 0x0001) return 'private'; // 64:ff9b:1::/48 local-use NAT64 (RFC 8215)
    return 'reserved';
  }
  if (g0 === 0x2002) return classifyV4(b.subarray(2, 6)); // 2002::/16 6to4
  if (g0 === 0x2001 && g1 === 0x0db8) return 'documentation';
  if (g0 === 0x3fff && g1 <= 0x0fff) return 'documentation'; // 3fff::/20 (RFC 9637)
  if (g0 === 0x2001 && g1 <= 0x01ff) return 'reserved'; // 2001::/23 incl. Teredo 2001::/32
  if (g0 === 0x0100 && allZero(b, 2, 8)) return 'reserved'; // 100::/64 discard-only
  if ((g0 & 0xfe00) === 0xfc00) return 'unique-local';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  if ((g0 & 0xe000) === 0x2000) return 'public'; // 2000::/3 global unicast
  return 'reserved';
}

/** Classifies an address given as text. Anything that is not an IP literal is `invalid`. */
export function classifyIp(address: string): IpCategory {
  const parsed = parseIpAddress(address);
  if (parsed === undefined) return 'invalid';
  return parsed.version === 4 ? classifyV4(parsed.bytes) : classifyV6(parsed.bytes);
}

/**
 * Hostnames that name this machine without DNS (RFC 6761 §6.3: `localhost` and `*.localhost`).
 * A trailing root dot is ignored.
 */
export function isLocalhostName(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * Names that only resolve inside a site (`.local` mDNS, `.home.arpa`, `.internal`); treated as private so
 * that a name-only check (no resolver) still refuses them.
 */
export function isSiteLocalName(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return ['local', 'home.arpa', 'internal', 'lan'].some((suffix) => host === suffix || host.endsWith(`.${suffix}`));
}

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and ::1 (brackets allowed). */
export function isLoopbackHost(hostname: string): boolean {
  return isLocalhostName(hostname) || classifyIp(hostname) === 'loopback';
}
