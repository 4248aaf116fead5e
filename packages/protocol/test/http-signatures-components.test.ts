/**
 * Component identifiers and component values: every example of RFC 9421 §2.1 (fields, sf, key, bs)
 * and §2.2 (derived components), transcribed from RFC 9421, plus the error cases of §2 and §2.5.
 */
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import type { HttpRequestMessage, HttpResponseMessage } from '../src/http-message.js';
import {
  SignatureContext,
  createSignatureBase,
  parseComponentIdentifier,
  sameComponent,
  serializeComponentIdentifier,
  signMessage,
  type ComponentIdentifier,
  type SignatureContextOptions,
} from '../src/http-signatures/index.js';

const id = (s: string): ComponentIdentifier => parseComponentIdentifier(s);

/** The signature-base line of one component. */
function line(message: HttpRequestMessage | HttpResponseMessage, component: string, options: SignatureContextOptions = {}): string {
  const ctx = new SignatureContext(message, options);
  const base = createSignatureBase(ctx, [id(component)], '()');
  return base.slice(0, base.indexOf('\n'));
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AAuthError);
    return (e as AAuthError).code;
  }
  return undefined;
}

const post: HttpRequestMessage = { method: 'POST', url: 'https://www.example.com/path?param=value', headers: [['Host', 'www.example.com']] };

describe('RFC 9421 §2.1 HTTP fields', () => {
  // §2.1 example message, field lines exactly as shown (including the obs-fold).
  const msg: HttpRequestMessage = {
    method: 'GET',
    url: 'https://www.example.com/',
    headers: [
      ['Host', 'www.example.com'],
      ['Date', 'Tue, 20 Apr 2021 02:07:56 GMT'],
      ['X-OWS-Header', '  Leading and trailing whitespace.  '],
      ['X-Obs-Fold-Header', 'Obsolete\r\n    line folding.'],
      ['Cache-Control', 'max-age=60'],
      ['Cache-Control', '   must-revalidate'],
      ['Example-Dict', ' a=1,    b=2;x=1;y=2,   c=(a   b   c)'],
      ['X-Empty-Header', ' '],
    ],
  };
  it.each([
    ['"host"', '"host": www.example.com'],
    ['"date"', '"date": Tue, 20 Apr 2021 02:07:56 GMT'],
    ['"x-ows-header"', '"x-ows-header": Leading and trailing whitespace.'],
    ['"x-obs-fold-header"', '"x-obs-fold-header": Obsolete line folding.'],
    ['"cache-control"', '"cache-control": max-age=60, must-revalidate'],
    ['"example-dict"', '"example-dict": a=1,    b=2;x=1;y=2,   c=(a   b   c)'],
    ['"x-empty-header"', '"x-empty-header": '],
  ])('%s', (component, expected) => {
    expect(line(msg, component)).toBe(expected);
  });

  it('field lines of a Headers object are combined the same way', () => {
    const h = new Headers();
    h.append('Cache-Control', 'max-age=60');
    h.append('Cache-Control', 'must-revalidate');
    expect(line({ method: 'GET', url: 'https://a.example/', headers: h }, '"cache-control"')).toBe('"cache-control": max-age=60, must-revalidate');
  });

  it('§2.1.1 sf re-serializes a Dictionary strictly', () => {
    const opts = { structuredFields: { 'example-dict': 'dictionary' as const } };
    expect(line(msg, '"example-dict";sf', opts)).toBe('"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c)');
  });

  it('§2.1.1 sf on a field of unknown type → error', () => {
    expect(codeOf(() => line(msg, '"example-dict";sf'))).toBe('invalid_signature');
  });

  it('§2.1.1 sf works for known AAuth fields (signature-key) and combines field lines', () => {
    const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['Signature-Key', 'sig=jwt; jwt="a.b.c"'], ['Accept-Signature-Alg', 'Ed25519'], ['Accept-Signature-Alg', '  ES256']] };
    expect(line(m, '"signature-key";sf')).toBe('"signature-key";sf: sig=jwt;jwt="a.b.c"');
    expect(line(m, '"accept-signature-alg";sf')).toBe('"accept-signature-alg";sf: Ed25519, ES256');
  });

  describe('§2.1.2 Dictionary members (key)', () => {
    const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['Example-Dict', ' a=1, b=2;x=1;y=2, c=(a   b    c), d']] };
    it.each([
      ['"example-dict";key="a"', '"example-dict";key="a": 1'],
      ['"example-dict";key="d"', '"example-dict";key="d": ?1'],
      ['"example-dict";key="b"', '"example-dict";key="b": 2;x=1;y=2'],
      ['"example-dict";key="c"', '"example-dict";key="c": (a b c)'],
    ])('%s', (component, expected) => {
      expect(line(m, component)).toBe(expected);
    });
    it('an absent member → error', () => {
      expect(codeOf(() => line(m, '"example-dict";key="e"'))).toBe('invalid_signature');
    });
    it('key on a field known not to be a Dictionary → error', () => {
      const c: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['Accept-Signature-Alg', 'Ed25519']] };
      expect(codeOf(() => line(c, '"accept-signature-alg";key="a"'))).toBe('invalid_signature');
    });
    it('key on a field that does not parse as a Dictionary → error', () => {
      const c: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['X-Thing', '"not a dict"']] };
      expect(codeOf(() => line(c, '"x-thing";key="a"'))).toBe('invalid_signature');
    });
  });

  describe('§2.1.3 binary-wrapped fields (bs)', () => {
    it('two field lines stay distinct', () => {
      const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['Example-Header', 'value, with, lots'], ['Example-Header', 'of, commas']] };
      expect(line(m, '"example-header"')).toBe('"example-header": value, with, lots, of, commas');
      expect(line(m, '"example-header";bs')).toBe('"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:');
    });
    it('one field line', () => {
      const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['Example-Header', 'value, with, lots, of, commas']] };
      expect(line(m, '"example-header";bs')).toBe('"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHMsIG9mLCBjb21tYXM=:');
    });
  });

  it('a covered field that is absent → invalid_signature', () => {
    expect(codeOf(() => line(post, '"content-digest"'))).toBe('invalid_signature');
  });

  it('a line break that is not an obs-fold → invalid_signature', () => {
    const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['X-A', 'one\r\ntwo']] };
    expect(codeOf(() => line(m, '"x-a"'))).toBe('invalid_signature');
  });

  it('tr (trailers) is refused clearly', () => {
    const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['Expires', 'Wed, 9 Nov 2022 07:28:00 GMT']] };
    expect(() => line(m, '"expires";tr')).toThrow(/trailer/);
  });
});

describe('RFC 9421 §2.2 derived components', () => {
  it('§2.2.1 @method', () => expect(line(post, '"@method"')).toBe('"@method": POST'));
  it('§2.2.2 @target-uri', () => expect(line(post, '"@target-uri"')).toBe('"@target-uri": https://www.example.com/path?param=value'));
  it('§2.2.3 @authority', () => expect(line(post, '"@authority"')).toBe('"@authority": www.example.com'));
  it('§2.2.3 @authority is lowercased and drops the default port', () => {
    const m = { ...post, url: 'https://WWW.Example.COM:443/path' };
    expect(line(m, '"@authority"')).toBe('"@authority": www.example.com');
    expect(line({ ...post, url: 'http://example.com:80/' }, '"@authority"')).toBe('"@authority": example.com');
    expect(line({ ...post, url: 'https://example.com:8443/' }, '"@authority"')).toBe('"@authority": example.com:8443');
    expect(line({ ...post, url: 'https://[2001:DB8::1]:443/' }, '"@authority"')).toBe('"@authority": [2001:db8::1]');
  });
  it('§2.2.4 @scheme', () => {
    expect(line({ ...post, url: 'http://www.example.com/path?param=value' }, '"@scheme"')).toBe('"@scheme": http');
    expect(line({ ...post, url: 'HTTPS://www.example.com/' }, '"@scheme"')).toBe('"@scheme": https');
  });
  describe('§2.2.5 @request-target', () => {
    it('origin form', () => expect(line(post, '"@request-target"')).toBe('"@request-target": /path?param=value'));
    it('absolute form (proxy), from the signature context', () => {
      const m: HttpRequestMessage = { method: 'GET', url: 'https://www.example.com/path?param=value', headers: [] };
      expect(line(m, '"@request-target"', { requestTarget: 'https://www.example.com/path?param=value' })).toBe(
        '"@request-target": https://www.example.com/path?param=value',
      );
    });
    it('authority form (CONNECT)', () => {
      const m: HttpRequestMessage = { method: 'CONNECT', url: 'http://www.example.com:80', headers: [['Host', 'www.example.com']] };
      expect(line(m, '"@request-target"')).toBe('"@request-target": www.example.com:80');
    });
    it('asterisk form (OPTIONS *), from the signature context', () => {
      const m: HttpRequestMessage = { method: 'OPTIONS', url: 'https://www.example.com', headers: [['Host', 'www.example.com']] };
      expect(line(m, '"@request-target"', { requestTarget: '*' })).toBe('"@request-target": *');
    });
  });
  it('§2.2.6 @path', () => {
    expect(line(post, '"@path"')).toBe('"@path": /path');
    expect(line({ ...post, url: 'https://www.example.com' }, '"@path"')).toBe('"@path": /');
    // Values before percent-decoding, no dot-segment removal (RFC 3986 §6.2.1 simple comparison).
    expect(line({ ...post, url: 'https://www.example.com/a/../b%2fc?x' }, '"@path"')).toBe('"@path": /a/../b%2fc');
  });
  describe('§2.2.7 @query', () => {
    it.each([
      ['https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman', '"@query": ?param=value&foo=bar&baz=bat%2Dman'],
      ['https://www.example.com/path?queryString', '"@query": ?queryString'],
      ['https://www.example.com/path', '"@query": ?'],
      ['https://www.example.com/path?', '"@query": ?'],
      ['https://www.example.com/path?a=1#frag', '"@query": ?a=1'],
    ])('%s', (url, expected) => expect(line({ ...post, url }, '"@query"')).toBe(expected));
  });
  describe('§2.2.8 @query-param', () => {
    const m = { ...post, url: 'https://www.example.com/path?param=value&foo=bar&baz=batman&qux=' };
    it.each([
      ['"@query-param";name="baz"', '"@query-param";name="baz": batman'],
      ['"@query-param";name="qux"', '"@query-param";name="qux": '],
      ['"@query-param";name="param"', '"@query-param";name="param": value'],
    ])('%s', (component, expected) => expect(line(m, component)).toBe(expected));

    const enc = {
      ...post,
      method: 'GET',
      url: 'https://www.example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something',
    };
    it.each([
      ['"@query-param";name="var"', '"@query-param";name="var": this%20is%20a%20big%0Amultiline%20value'],
      ['"@query-param";name="bar"', '"@query-param";name="bar": with%20plus%20whitespace'],
      ['"@query-param";name="fa%C3%A7ade%22%3A%20"', '"@query-param";name="fa%C3%A7ade%22%3A%20": something'],
    ])('re-encoded per §2.2.8: %s', (component, expected) => expect(line(enc, component)).toBe(expected));

    it('an absent parameter → error', () => expect(codeOf(() => line(m, '"@query-param";name="nope"'))).toBe('invalid_signature'));
    it('a repeated parameter → error', () => {
      expect(codeOf(() => line({ ...post, url: 'https://a.example/?a=1&%61=2' }, '"@query-param";name="a"'))).toBe('invalid_signature');
    });
    it('without name → error', () => expect(codeOf(() => createSignatureBase(m, [{ name: '@query-param', params: {} }], '()'))).toBe('invalid_signature'));
  });
  it('§2.2.9 @status', () => {
    const res: HttpResponseMessage = { status: 200, headers: [['Date', 'Fri, 26 Mar 2010 00:05:00 GMT']] };
    expect(line(res, '"@status"')).toBe('"@status": 200');
    expect(codeOf(() => line(post, '"@status"'))).toBe('invalid_signature');
  });
  it('request components on a response need req', () => {
    const res: HttpResponseMessage = { status: 200, headers: [] };
    expect(codeOf(() => line(res, '"@method"'))).toBe('invalid_signature');
    expect(line(res, '"@method";req', { related: post })).toBe('"@method";req: POST');
  });
  it('req in a signature over a request → error (§2.4)', () => {
    expect(codeOf(() => line(post, '"@method";req', { related: post }))).toBe('invalid_signature');
  });
  it('an unknown derived component → invalid_signature', () => {
    expect(codeOf(() => createSignatureBase(post, [{ name: '@nope', params: {} }], '()'))).toBe('invalid_signature');
  });
  it('a target URI with userinfo, whitespace or no authority → invalid_signature', () => {
    for (const url of ['https://u:p@a.example/', 'https://a.example/a b', '/relative', 'https:///x', 'https://a.example:8x/']) {
      expect(codeOf(() => line({ ...post, url }, '"@authority"'))).toBe('invalid_signature');
    }
  });
});

describe('component identifiers', () => {
  it('parse and serialize round-trip, keeping parameter order', () => {
    for (const s of ['"@method"', '"example-dict";key="a"', '"signature";req;key="sig1"', '"@query-param";name="Pet"', '"x";sf;req']) {
      expect(serializeComponentIdentifier(id(s))).toBe(s);
    }
  });
  it('equality ignores parameter order (§2)', () => {
    expect(sameComponent(id('"x";sf;req'), id('"x";req;sf'))).toBe(true);
    expect(sameComponent(id('"x";sf'), id('"x"'))).toBe(false);
  });
  it.each([
    ['"Content-Type"', 'uppercase field name'],
    ['"x";bs;sf', 'bs with sf'],
    ['"x";bs;key="a"', 'bs with key'],
    ['"@method";sf', 'sf on a derived component'],
    ['"@path";name="a"', 'name outside @query-param'],
    ['"x";name="a"', 'name on a field'],
    ['"x";foo', 'unknown parameter'],
    ['"x";sf=?0', 'flag set to false'],
    ['"x";key=a', 'key as a Token'],
    ['"@signature-params"', '@signature-params as a covered component'],
    ['"@unknown"', 'unknown derived name'],
    ['x', 'not a String'],
    ['"x" garbage', 'not an Item'],
  ])('rejects %s (%s)', (s) => {
    expect(codeOf(() => parseComponentIdentifier(s))).toBe('invalid_argument');
  });
  it('duplicate component identifiers → invalid_signature (§2)', () => {
    const m: HttpRequestMessage = { method: 'GET', url: 'https://a.example/', headers: [['X', 'a=1']] };
    expect(codeOf(() => createSignatureBase(m, [id('"@method"'), id('"@method"')], '()'))).toBe('invalid_signature');
    expect(codeOf(() => createSignatureBase(m, [id('"x";sf;req'), id('"x";req;sf')], '()'))).toBe('invalid_signature');
    // Distinct parameters make distinct components.
    expect(() => createSignatureBase(m, [id('"x"'), id('"x";key="a"')], '()')).not.toThrow();
  });
  it('signing maps unresolvable components to invalid_argument', async () => {
    await expect(
      signMessage(post, { components: ['content-digest'], created: 1, sign: () => Promise.resolve(new Uint8Array(1)) }),
    ).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
