/**
 * RFC 9421 Appendix B test vectors (B.2.1–B.2.6, B.3, B.4), the §2.4 request-response example and the
 * §4.3 multiple-signature example. Keys: RFC 9421 B.1 (vectors/rfc9421/keys.json); messages, bases and
 * signatures: vectors/rfc9421/appendix-b.json. Both name RFC 9421 as their source.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAAuthError } from '../src/errors.js';
import type { HttpRequestMessage, HttpResponseMessage } from '../src/http-message.js';
import {
  SignatureContext,
  createSignatureBase,
  selectSignature,
  signMessage,
  verifyMessageSignature,
  verifySignatureWith,
  type SignatureVerifier,
} from '../src/http-signatures/index.js';

type Lines = [string, string][];
interface MessageJson {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: Lines;
}
interface CaseJson {
  readonly name: string;
  readonly message: 'testRequest' | 'testResponse';
  readonly label: string;
  readonly key: string;
  readonly alg: string;
  readonly signatureInput: string;
  readonly signature: string;
  readonly base: string[];
}
interface VectorsJson {
  readonly testRequest: MessageJson;
  readonly testResponse: MessageJson;
  readonly cases: CaseJson[];
  readonly b3: { request: MessageJson; key: string; label: string };
  readonly b4: { key: string; label: string; signatureInput: string; signature: string; base: string[]; valid: (MessageJson & { name: string })[]; invalid: (MessageJson & { name: string })[] };
  readonly requestResponse: { key: string; label: string; request: MessageJson; response: MessageJson; base: string[] };
  readonly multiple: { key: string; label: string; request: MessageJson };
}

const load = <T>(p: string): T => JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8')) as T;
/** The members of the B.1 keys the tests read (each key has only some of them). */
interface KeyJson {
  readonly n: string;
  readonly e: string;
  readonly x: string;
  readonly y: string;
  readonly d: string;
  readonly base64: string;
}
const keys = load<Record<string, KeyJson>>('./vectors/rfc9421/keys.json');
const vectors = load<VectorsJson>('./vectors/rfc9421/appendix-b.json');
const subtle = globalThis.crypto.subtle;
const b64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.from(s, 'base64'));

/** WebCrypto verifiers for the RFC 9421 §3.3 algorithms used in Appendix B. */
async function verifierFor(alg: string, keyName: string): Promise<SignatureVerifier> {
  const k = keys[keyName]!;
  const data = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;
  switch (alg) {
    case 'rsa-pss-sha512': {
      const key = await subtle.importKey('jwk', { kty: 'RSA', n: k.n, e: k.e }, { name: 'RSA-PSS', hash: 'SHA-512' }, false, ['verify']);
      return (base, sig) => subtle.verify({ name: 'RSA-PSS', saltLength: 64 }, key, data(sig), data(base));
    }
    case 'rsa-v1_5-sha256': {
      const key = await subtle.importKey('jwk', { kty: 'RSA', n: k.n, e: k.e }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
      return (base, sig) => subtle.verify('RSASSA-PKCS1-v1_5', key, data(sig), data(base));
    }
    case 'ecdsa-p256-sha256': {
      // RFC 9421 §3.3.4: raw r||s, 64 bytes — WebCrypto's own format.
      const key = await subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: k.x, y: k.y }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
      return (base, sig) => subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, data(sig), data(base));
    }
    case 'hmac-sha256': {
      const key = await subtle.importKey('raw', b64(k.base64), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      return (base, sig) => subtle.verify('HMAC', key, data(sig), data(base));
    }
    case 'ed25519': {
      const key = await subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: k.x }, { name: 'Ed25519' }, false, ['verify']);
      return (base, sig) => subtle.verify('Ed25519', key, data(sig), data(base));
    }
    default:
      throw new Error(alg);
  }
}

const request = (m: MessageJson, extra: Lines = []): HttpRequestMessage => ({ method: m.method, url: m.url, headers: [...m.headers, ...extra] });
const response = (m: MessageJson, extra: Lines = []): HttpResponseMessage => ({ status: m.status, headers: [...m.headers, ...extra] });

async function expectInvalidSignature(p: Promise<unknown>): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isAAuthError(e, 'invalid_signature')).toBe(true);
}

describe('RFC 9421 Appendix B.2 test cases', () => {
  for (const c of vectors.cases) {
    const build = (extra: Lines) => (c.message === 'testRequest' ? request(vectors.testRequest, extra) : response(vectors.testResponse, extra));
    const signed = build([
      ['Signature-Input', c.signatureInput],
      ['Signature', c.signature],
    ]);

    it(`[§8.12] ${c.name}: signature base is byte-exact`, () => {
      const parsed = selectSignature(new SignatureContext(signed).lines, c.label);
      expect(createSignatureBase(signed, parsed.components, parsed.signatureParams)).toBe(c.base.join('\n'));
    });

    it(`[§8.12] ${c.name}: signature verifies, and fails on a changed base`, async () => {
      const verify = await verifierFor(c.alg, c.key);
      const parsed = selectSignature(new SignatureContext(signed).lines, c.label);
      await verifySignatureWith(signed, parsed, verify);
      const result = await verifyMessageSignature(signed, {
        label: c.label,
        now: 1618884473,
        resolveVerifier: () => Promise.resolve(verify),
      });
      expect(result.label).toBe(c.label);
      // Same signature presented with a later `created`: the base changes, verification fails.
      const tampered = build([
        ['Signature-Input', c.signatureInput.replace('created=1618884473', 'created=1618884474')],
        ['Signature', c.signature],
      ]);
      const p2 = selectSignature(new SignatureContext(tampered).lines, c.label);
      await expectInvalidSignature(verifySignatureWith(tampered, p2, verify));
    });
  }

  it('[§8.12] B.2.6 ed25519: signing reproduces Signature-Input and Signature byte for byte', async () => {
    const jwk = keys['test-key-ed25519']!;
    const key = await subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, { name: 'Ed25519' }, false, ['sign']);
    const c = vectors.cases.find((x) => x.label === 'sig-b26')!;
    const out = await signMessage(request(vectors.testRequest), {
      label: 'sig-b26',
      components: ['date', '@method', '@path', '@authority', 'content-type', 'content-length'],
      created: 1618884473,
      keyid: 'test-key-ed25519',
      sign: async (base) => new Uint8Array(await subtle.sign('Ed25519', key, base as Uint8Array<ArrayBuffer>)),
    });
    expect(out.base).toBe(c.base.join('\n'));
    expect(out.signatureInput).toBe(c.signatureInput);
    expect(out.signature).toBe(c.signature);
  });

  it('B.2.5 hmac-sha256: signing reproduces the Signature byte for byte', async () => {
    const key = await subtle.importKey('raw', b64(keys['test-shared-secret']!.base64), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const c = vectors.cases.find((x) => x.label === 'sig-b25')!;
    const out = await signMessage(request(vectors.testRequest), {
      label: 'sig-b25',
      components: ['date', '@authority', 'content-type'],
      created: 1618884473,
      keyid: 'test-shared-secret',
      sign: async (base) => new Uint8Array(await subtle.sign('HMAC', key, base as Uint8Array<ArrayBuffer>)),
    });
    expect(out.signatureInput).toBe(c.signatureInput);
    expect(out.signature).toBe(c.signature);
  });
});

describe('RFC 9421 B.3 TLS-terminating proxy', () => {
  it('verifies the proxy signature over client-cert', async () => {
    const msg = request(vectors.b3.request);
    const verify = await verifierFor('ecdsa-p256-sha256', vectors.b3.key);
    const parsed = await verifyMessageSignature(msg, { now: 1618884473, resolveVerifier: () => Promise.resolve(verify) });
    expect(parsed.label).toBe('ttrp');
    expect(parsed.params.keyid).toBe('test-key-ecc-p256');
  });
});

describe('RFC 9421 B.4 message transformations', () => {
  const b4 = vectors.b4;
  const sigLines: Lines = [
    ['Signature-Input', b4.signatureInput],
    ['Signature', b4.signature],
  ];
  for (const v of b4.valid) {
    it(`still verifies: ${v.name}`, async () => {
      const msg = request(v, sigLines);
      const parsed = selectSignature(new SignatureContext(msg).lines, b4.label);
      expect(createSignatureBase(msg, parsed.components, parsed.signatureParams)).toBe(b4.base.join('\n'));
      await verifySignatureWith(msg, parsed, await verifierFor('ed25519', b4.key));
    });
  }
  for (const v of b4.invalid) {
    it(`no longer verifies: ${v.name}`, async () => {
      const msg = request(v, sigLines);
      const parsed = selectSignature(new SignatureContext(msg).lines, b4.label);
      await expectInvalidSignature(verifySignatureWith(msg, parsed, await verifierFor('ed25519', b4.key)));
    });
  }
});

describe('RFC 9421 §2.4 request-response binding', () => {
  const rr = vectors.requestResponse;
  it('builds the response base from the related request (req, key) and verifies', async () => {
    const req = request(rr.request);
    const res = response(rr.response);
    const parsed = selectSignature(new SignatureContext(res).lines, 'reqres');
    expect(createSignatureBase(res, parsed.components, parsed.signatureParams, req)).toBe(rr.base.join('\n'));
    const verify = await verifierFor('ecdsa-p256-sha256', rr.key);
    await verifyMessageSignature(res, { now: 1618884479, related: req, resolveVerifier: () => Promise.resolve(verify) });
  });

  it('without the related request, components with req cannot be resolved → invalid_signature', async () => {
    const res = response(rr.response);
    const parsed = selectSignature(new SignatureContext(res).lines, 'reqres');
    await expectInvalidSignature(verifySignatureWith(res, parsed, await verifierFor('ecdsa-p256-sha256', rr.key)));
  });
});

describe('RFC 9421 §4.3 multiple signatures', () => {
  const m = vectors.multiple;
  it('[§8.9] selects proxy_sig by label and verifies it with the key, whatever its alg parameter says', async () => {
    const msg = request(m.request);
    const verify = await verifierFor('rsa-v1_5-sha256', m.key);
    const parsed = await verifyMessageSignature(msg, { label: 'proxy_sig', now: 1618884480, resolveVerifier: () => Promise.resolve(verify) });
    expect(parsed.components.map((c) => c.name)).toEqual(['signature', 'forwarded']);
    expect(parsed.params).toEqual({ created: 1618884480, expires: 1618884540, keyid: 'test-key-rsa', alg: 'rsa-v1_5-sha256' });
  });

  it('without a label, two signatures are ambiguous → invalid_request', () => {
    const msg = request(m.request);
    expect(() => selectSignature(new SignatureContext(msg).lines)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });

  it('proxy_sig is rejected after its expires', async () => {
    const msg = request(m.request);
    const verify = await verifierFor('rsa-v1_5-sha256', m.key);
    await expectInvalidSignature(
      verifyMessageSignature(msg, { label: 'proxy_sig', now: 1618884541, window: 3600, resolveVerifier: () => Promise.resolve(verify) }),
    );
  });
});
