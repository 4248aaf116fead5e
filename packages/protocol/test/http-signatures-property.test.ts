/**
 * Property tests: a signature breaks when anything it covers changes, and the parsers and base
 * builder answer arbitrary input with a result or an AAuthError — never another exception.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, isAAuthError } from '../src/errors.js';
import { headerLines, type HttpRequestMessage } from '../src/http-message.js';
import {
  createSignatureBase,
  parseSignatures,
  selectSignature,
  signMessage,
  verifyMessageSignature,
  type ComponentIdentifier,
  type SignatureVerifier,
} from '../src/http-signatures/index.js';

const subtle = globalThis.crypto.subtle;
const bytes = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;
let sign: (b: Uint8Array) => Promise<Uint8Array>;
let verify: SignatureVerifier;

beforeAll(async () => {
  const pair = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']));
  sign = async (b) => new Uint8Array(await subtle.sign('Ed25519', pair.privateKey, bytes(b)));
  verify = (base, sig) => subtle.verify('Ed25519', pair.publicKey, bytes(sig), bytes(base));
});

const tchar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.~'.split(''));
const word = fc.string({ unit: tchar, minLength: 1, maxLength: 12 });
/** A header value without surrounding whitespace or line breaks (visible ASCII and inner spaces). */
const value = fc
  .string({ unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@ABCXYZabcxyz[]^_{|}~"'.split('')), minLength: 1, maxLength: 40 })
  .map((s) => s.trim())
  .filter((s) => s.length > 0);

const messageArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  host: fc.tuple(word, word).map(([a, b]) => `${a}.${b}`),
  path: fc.array(word, { minLength: 0, maxLength: 4 }).map((s) => '/' + s.join('/')),
  query: fc.option(fc.array(fc.tuple(word, word), { minLength: 1, maxLength: 3 }).map((ps) => ps.map(([k, v]) => `${k}=${v}`).join('&')), { nil: undefined }),
  sigKey: value,
  extra: value,
});

type Gen = typeof messageArb extends fc.Arbitrary<infer T> ? T : never;

const COMPONENTS = ['@method', '@authority', '@path', '@query', '@target-uri', 'signature-key', 'x-extra'];

function toMessage(g: Gen, signatureHeaders: [string, string][] = []): HttpRequestMessage {
  return {
    method: g.method,
    url: `https://${g.host}${g.path}${g.query === undefined ? '' : '?' + g.query}`,
    headers: [['Signature-Key', g.sigKey], ['X-Extra', g.extra], ...signatureHeaders],
  };
}

type Mutation = 'method' | 'host' | 'path' | 'query' | 'sigKey' | 'extra' | 'created' | 'nonce' | 'tag' | 'signature' | 'dropComponent';

describe('[§8.12] any change to what a signature covers makes verification fail', () => {
  it('holds for covered component values, signature parameters and signature bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        messageArb,
        fc.constantFrom<Mutation>('method', 'host', 'path', 'query', 'sigKey', 'extra', 'created', 'nonce', 'tag', 'signature', 'dropComponent'),
        fc.nat(10_000),
        async (g, mutation, n) => {
          const created = 1_700_000_000;
          const out = await signMessage(toMessage(g), { components: COMPONENTS, created, nonce: 'n0', tag: 't0', sign });
          const opts = { now: created, resolveVerifier: () => Promise.resolve(verify) };
          await verifyMessageSignature(toMessage(g, [['Signature-Input', out.signatureInput], ['Signature', out.signature]]), opts);

          const m: Gen = { ...g };
          let input = out.signatureInput;
          let signature = out.signature;
          switch (mutation) {
            case 'method': m.method = g.method === 'GET' ? 'PUT' : 'GET'; break;
            case 'host': m.host = 'x' + g.host; break;
            case 'path': m.path = g.path + '/x'; break;
            case 'query': m.query = g.query === undefined ? 'a=1' : g.query + '&z=' + n; break;
            case 'sigKey': m.sigKey = g.sigKey + 'x'; break;
            case 'extra': m.extra = 'x' + g.extra; break;
            case 'created': input = input.replace(`created=${created}`, `created=${created + 1 + (n % 30)}`); break;
            case 'nonce': input = input.replace('nonce="n0"', `nonce="n${n + 1}"`); break;
            case 'tag': input = input.replace('tag="t0"', 'tag="t1"'); break;
            case 'dropComponent': input = input.replace(' "x-extra"', ''); break;
            case 'signature': {
              const raw = Buffer.from(signature.slice(5, -1), 'base64');
              raw[n % raw.length]! ^= 1 << (n % 8);
              signature = `sig=:${raw.toString('base64')}:`;
              break;
            }
          }
          const tampered = toMessage(m, [['Signature-Input', input], ['Signature', signature]]);
          const e = await verifyMessageSignature(tampered, opts).then(() => undefined, (err: unknown) => err);
          expect(isAAuthError(e, 'invalid_signature')).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('sig=()', 'sig=("@method");created=1', 'sig=:AA==:', 'sig=("@query-param";name="a" "x";key="k";sf)', 'a=(1 2);b=?0, c'),
);

describe('arbitrary input yields a result or an AAuthError', () => {
  it('parseSignatures / selectSignature', () => {
    fc.assert(
      fc.property(anyString, anyString, fc.option(anyString, { nil: undefined }), (si, s, label) => {
        const lines = headerLines([
          ['Signature-Input', si],
          ['Signature', s],
        ]);
        for (const f of [() => parseSignatures(lines), () => selectSignature(lines, label)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(AAuthError);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('createSignatureBase', () => {
    const params = fc.dictionary(fc.constantFrom('sf', 'key', 'bs', 'req', 'tr', 'name', 'zz'), fc.oneof(fc.constant(true), fc.string(), fc.integer()), { maxKeys: 3 });
    const component = fc.record({
      name: fc.oneof(fc.string(), fc.constantFrom('@method', '@authority', '@path', '@query', '@query-param', '@status', '@target-uri', '@scheme', '@request-target', 'x', 'signature-key')),
      params,
    }) as fc.Arbitrary<ComponentIdentifier>;
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.constantFrom('GET', 'POST')),
        fc.oneof(fc.string(), fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.constant('https://a.example/?a=1&a=2&b=%zz%C3')),
        fc.array(fc.tuple(fc.oneof(fc.constantFrom('x', 'signature-key', 'X'), fc.string()), fc.string({ unit: 'binary' })), { maxLength: 4 }),
        fc.array(component, { maxLength: 4 }),
        fc.string(),
        fc.boolean(),
        (method, url, headers, components, sp, asResponse) => {
          const message = asResponse ? { status: 200, headers } : { method, url, headers };
          try {
            const base = createSignatureBase(message, components, sp, { method: 'GET', url: 'https://r.example/', headers: [] });
            expect(typeof base).toBe('string');
          } catch (e) {
            expect(e).toBeInstanceOf(AAuthError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
