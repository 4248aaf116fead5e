/**
 * The AAuth profile of RFC 9421 (AAuth -11 §HTTP Message Signatures Profile, SK-08): the vectors of
 * /work/shared/spec/vectors.md §1 (RFC 9421 B.2.6) and §2 (the derived AAuth-profile vector,
 * generated for this project), the aauth-go golden file (vectors/aauth-go/http-signature.json, from
 * aauth-dev/aauth-go testdata/vectors/http-signature.json), and checklist items §8.2–§8.5, §8.9,
 * §8.10 (requireComponents), §8.12.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifyContentDigest } from '../src/content-digest.js';
import { AAuthError, isAAuthError } from '../src/errors.js';
import type { HttpRequestMessage } from '../src/http-message.js';
import {
  SignatureContext,
  checkSignatureTime,
  createSignatureBase,
  requireComponents,
  selectSignature,
  signMessage,
  signatureBaseBytes,
  verifyMessageSignature,
  verifySignatureWith,
  type SignatureVerifier,
} from '../src/http-signatures/index.js';

const subtle = globalThis.crypto.subtle;
const bytes = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

// vectors.md §1 / RFC 9421 B.1.4: test-key-ed25519, the agent key of vectors.md §2.
const AGENT_JWK = { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs', d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU' };

// vectors.md §2 (derived AAuth-profile vector).
const AGENT_TOKEN =
  'eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiYWEtYWdlbnQrand0Iiwia2lkIjoiYXAta2V5LTEifQ.eyJpc3MiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJkd2siOiJhYXV0aC1hZ2VudC5qc29uIiwic3ViIjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJqdGkiOiJhZ3QtMDAwMSIsImNuZiI6eyJqd2siOnsia3R5IjoiT0tQIiwiY3J2IjoiRWQyNTUxOSIsIngiOiJKclFMajVQXzg5aVhFUzktdkZnckl5MjljbEY5Q0Nfb1BQc3czYzVEMGJzIiwiYWxnIjoiRWQyNTUxOSJ9fSwiaWF0IjoxNzMwMjE3NjAwLCJleHAiOjE3MzAyMjEyMDB9.IzvM6zL-iYyNsHLwb2gv7dh19bgcZS9ZPj5nib1934c1Bb2zDimYYlD2Cr_6IKu7oEzYT-A0sEcmVK3mQjgxBw';
const CREATED = 1730217600;
const SIGNATURE_KEY = `sig=jwt;jwt="${AGENT_TOKEN}"`;
const SIGNATURE_INPUT = 'sig=("@method" "@authority" "@path" "signature-key");created=1730217600';
const SIGNATURE = 'sig=:NPQRauazCeReXW5NS09/2URgsm6n4rziYWWpBXNEs8w9dMeY88atn4WVl9qqd5YT2R0TrQUso1tLMK31BCkxBA==:';
const BASE = [
  '"@method": GET',
  '"@authority": resource.example',
  '"@path": /api/documents',
  `"signature-key": ${SIGNATURE_KEY}`,
  '"@signature-params": ("@method" "@authority" "@path" "signature-key");created=1730217600',
].join('\n');
const PROFILE = ['@method', '@authority', '@path', 'signature-key'];

const unsigned: HttpRequestMessage = {
  method: 'GET',
  url: 'https://resource.example/api/documents',
  headers: [
    ['Host', 'resource.example'],
    ['Signature-Key', SIGNATURE_KEY],
  ],
};
const signed = (input = SIGNATURE_INPUT, signature = SIGNATURE): HttpRequestMessage => ({
  ...unsigned,
  headers: [...(unsigned.headers as [string, string][]), ['Signature-Input', input], ['Signature', signature]],
});

async function ed25519Verifier(x: string): Promise<SignatureVerifier> {
  const key = await subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x }, { name: 'Ed25519' }, false, ['verify']);
  return (base, sig) => subtle.verify('Ed25519', key, bytes(sig), bytes(base));
}

async function ed25519Signer(jwk: typeof AGENT_JWK): Promise<(b: Uint8Array) => Promise<Uint8Array>> {
  const key = await subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']);
  return async (b) => new Uint8Array(await subtle.sign('Ed25519', key, bytes(b)));
}

async function rejection(p: Promise<unknown>): Promise<AAuthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AAuthError);
  return e as AAuthError;
}

const verifyAt = async (message: HttpRequestMessage, now: number) =>
  verifyMessageSignature(message, {
    label: 'sig',
    now: () => now,
    required: PROFILE,
    resolveVerifier: () => ed25519Verifier(AGENT_JWK.x),
  });

describe('vectors.md §2: AAuth-profile vector', () => {
  it('[§8.12] signature base is exact', () => {
    const parsed = selectSignature(new SignatureContext(signed()).lines, 'sig');
    expect(parsed.signatureParams).toBe('("@method" "@authority" "@path" "signature-key");created=1730217600');
    expect(createSignatureBase(signed(), parsed.components, parsed.signatureParams)).toBe(BASE);
  });

  it('[§8.2] signing reproduces Signature-Input and Signature (Ed25519 is deterministic), without alg or keyid', async () => {
    const out = await signMessage(unsigned, { components: PROFILE, created: CREATED, sign: await ed25519Signer(AGENT_JWK) });
    expect(out.base).toBe(BASE);
    expect(out.signatureInput).toBe(SIGNATURE_INPUT);
    expect(out.signature).toBe(SIGNATURE);
    expect(out.signatureInput).not.toMatch(/alg=|keyid=/);
  });

  it('[§8.12] verifies with the agent key at created, and at created ± 60 s', async () => {
    for (const now of [CREATED, CREATED + 60, CREATED - 60]) {
      const parsed = await verifyAt(signed(), now);
      expect(parsed.params.created).toBe(CREATED);
    }
  });

  it('[§8.5] rejects the request 61 s later (and 61 s early) with invalid_signature', async () => {
    expect((await rejection(verifyAt(signed(), CREATED + 61))).code).toBe('invalid_signature');
    expect((await rejection(verifyAt(signed(), CREATED - 61))).code).toBe('invalid_signature');
  });

  it('[§8.12] a different key does not verify → invalid_signature', async () => {
    const e = await rejection(
      verifyMessageSignature(signed(), {
        now: CREATED,
        resolveVerifier: () => ed25519Verifier('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'),
      }),
    );
    expect(e.code).toBe('invalid_signature');
  });

  it('[§8.3] missing Signature or Signature-Input → invalid_request', async () => {
    for (const drop of ['Signature', 'Signature-Input']) {
      const m: HttpRequestMessage = { ...unsigned, headers: (signed().headers as [string, string][]).filter(([n]) => n !== drop) };
      expect((await rejection(verifyAt(m, CREATED))).code).toBe('invalid_request');
    }
    expect((await rejection(verifyAt(unsigned, CREATED))).code).toBe('invalid_request');
  });

  it('[§8.4] a signature missing required components → invalid_input with required_input', async () => {
    const input = 'sig=("@method" "@authority" "@path");created=1730217600';
    const e = await rejection(
      verifyMessageSignature(signed(input), {
        now: CREATED,
        required: [...PROFILE, 'content-digest'],
        resolveVerifier: () => ed25519Verifier(AGENT_JWK.x),
      }),
    );
    expect(e.code).toBe('invalid_input');
    expect(e.requiredInput).toEqual([...PROFILE, 'content-digest']);
    expect(e.detail).toContain('signature-key, content-digest');
  });

  it('[§8.10] requireComponents rejects a signature that does not cover signature-key', () => {
    const parsed = selectSignature(new SignatureContext(signed('sig=("@method" "@authority" "@path");created=1730217600')).lines, 'sig');
    expect(() => requireComponents(parsed, PROFILE)).toThrow(expect.objectContaining({ code: 'invalid_input' }));
    const full = selectSignature(new SignatureContext(signed()).lines, 'sig');
    expect(() => requireComponents(full, PROFILE)).not.toThrow();
    // A dictionary member of signature-key does not count as covering the whole field.
    const member = selectSignature(
      new SignatureContext(signed('sig=("@method" "@authority" "@path" "signature-key";key="sig");created=1730217600')).lines,
      'sig',
    );
    expect(() => requireComponents(member, PROFILE)).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });

  it('[§8.9] the alg signature parameter is ignored: the key decides', async () => {
    const input = 'sig=("@method" "@authority" "@path" "signature-key");created=1730217600;alg="hmac-sha256"';
    const parsed = selectSignature(new SignatureContext(signed(input, 'sig=::')).lines, 'sig');
    const base = createSignatureBase(unsigned, parsed.components, parsed.signatureParams);
    const sig = await (await ed25519Signer(AGENT_JWK))(signatureBaseBytes(base));
    const message = signed(input, `sig=:${Buffer.from(sig).toString('base64')}:`);
    const verified = await verifyMessageSignature(message, {
      now: CREATED,
      required: PROFILE,
      resolveVerifier: () => ed25519Verifier(AGENT_JWK.x),
    });
    expect(verified.params.alg).toBe('hmac-sha256');
  });
});

describe('[§8.5] signature time checks', () => {
  it('created is required', () => {
    expect(() => checkSignatureTime({}, { now: 1000 })).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
  });
  it('expires in the past → invalid_signature; at now → accepted', () => {
    expect(() => checkSignatureTime({ created: 1000, expires: 999 }, { now: 1000 })).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
    expect(() => checkSignatureTime({ created: 1000, expires: 1000 }, { now: 1000 })).not.toThrow();
  });
  it('a custom window (signature_window) and a separate future skew', () => {
    expect(() => checkSignatureTime({ created: 700 }, { now: 1000, window: 300 })).not.toThrow();
    expect(() => checkSignatureTime({ created: 699 }, { now: 1000, window: 300 })).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
    expect(() => checkSignatureTime({ created: 1006 }, { now: 1000, window: 300, maxSkew: 5 })).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
    expect(() => checkSignatureTime({ created: 1005 }, { now: 1000, window: 300, maxSkew: 5 })).not.toThrow();
  });
  it('a bad window is a caller error', () => {
    expect(() => checkSignatureTime({ created: 1 }, { now: 1, window: -1 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });
});

describe('[§8.12] vectors.md §1: RFC 9421 B.2.6 with the agent key', () => {
  it('verifies and is rejected when created is outside the window', async () => {
    const m: HttpRequestMessage = {
      method: 'POST',
      url: 'https://example.com/foo?param=Value&Pet=dog',
      headers: [
        ['Host', 'example.com'],
        ['Date', 'Tue, 20 Apr 2021 02:07:55 GMT'],
        ['Content-Type', 'application/json'],
        ['Content-Length', '18'],
        ['Signature-Input', 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"'],
        ['Signature', 'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:'],
      ],
    };
    const opts = { label: 'sig-b26', resolveVerifier: () => ed25519Verifier(AGENT_JWK.x) };
    await verifyMessageSignature(m, { ...opts, now: 1618884473 });
    expect((await rejection(verifyMessageSignature(m, { ...opts, now: 1618884473 + 61 }))).code).toBe('invalid_signature');
  });
});

describe('aauth-go golden file (vectors/aauth-go/http-signature.json)', () => {
  const golden = JSON.parse(readFileSync(new URL('./vectors/aauth-go/http-signature.json', import.meta.url), 'utf8'));

  async function verifierOf(jwk: { kty: string; x: string; y?: string }): Promise<SignatureVerifier> {
    if (jwk.kty === 'OKP') return ed25519Verifier(jwk.x);
    const key = await subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y! }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    return (base, sig) => subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, bytes(sig), bytes(base));
  }

  for (const c of golden.cases) {
    it(`[§8.12] ${c.name}`, async () => {
      const t = c.tamper ?? {};
      const headers: Record<string, string> = { ...c.request.headers, ...c.signed, ...(t.headers ?? {}) };
      const body: string | undefined = t.body || c.request.body;
      const message: HttpRequestMessage = {
        method: t.method || c.request.method,
        url: t.url || c.request.url,
        headers,
        ...(body === undefined ? {} : { body: new TextEncoder().encode(body) }),
      };
      const ctx = new SignatureContext(message);
      const run = async () => {
        const parsed = await verifyMessageSignature(ctx, {
          label: 'sig',
          now: 1791275737,
          required: PROFILE,
          resolveVerifier: () => verifierOf(c.signing_key),
        });
        if (message.body !== undefined) {
          requireComponents(parsed, ['content-digest']);
          await verifyContentDigest(headers['Content-Digest'], message.body);
        }
      };
      if (c.tamper === undefined) {
        await run();
      } else {
        const e = await rejection(run());
        expect(isAAuthError(e, 'invalid_signature')).toBe(true);
        if (t.body !== undefined) expect(e.detail).toContain('content-digest mismatch');
      }
    });
  }

  it('the signature base of the GET case keeps the Signature-Key value exactly as sent', () => {
    const c = golden.cases[0];
    const message: HttpRequestMessage = { method: c.request.method, url: c.request.url, headers: { ...c.request.headers, ...c.signed } };
    const parsed = selectSignature(new SignatureContext(message).lines, 'sig');
    expect(createSignatureBase(message, parsed.components, parsed.signatureParams).split('\n')[3]).toBe(
      '"signature-key": sig=jwt; jwt="eyJhbGciOiJFZDI1NTE5In0.e30.c2ln"',
    );
  });

  it('verifySignatureWith turns a throwing verifier into invalid_signature', async () => {
    const c = golden.cases[0];
    const message: HttpRequestMessage = { method: c.request.method, url: c.request.url, headers: { ...c.request.headers, ...c.signed } };
    const parsed = selectSignature(new SignatureContext(message).lines, 'sig');
    const e = await rejection(verifySignatureWith(message, parsed, () => Promise.reject(new Error('boom'))));
    expect(e.code).toBe('invalid_signature');
  });
});
