/**
 * RFC 9530 Content-Digest. Values from RFC 9421 B (the `{"hello": "world"}` sha-512 digest) and
 * /work/shared/spec/vectors.md §1 (its sha-256 digest).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createContentDigest, verifyContentDigest } from '../src/content-digest.js';
import { AAuthError } from '../src/errors.js';

const body = new TextEncoder().encode('{"hello": "world"}');
const SHA256 = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
const SHA512 = 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';

async function codeOf(p: Promise<unknown>): Promise<AAuthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AAuthError);
  return e as AAuthError;
}

describe('createContentDigest', () => {
  it('sha-256 by default, the RFC values for sha-512, both together', async () => {
    expect(await createContentDigest(body)).toBe(SHA256);
    expect(await createContentDigest(body, ['sha-512'])).toBe(SHA512);
    expect(await createContentDigest(body, ['sha-256', 'sha-512'])).toBe(`${SHA256}, ${SHA512}`);
  });
  it('empty content has a digest too', async () => {
    expect(await createContentDigest(new Uint8Array())).toBe('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
  });
  it('no algorithm, or an unknown one → invalid_argument', async () => {
    expect((await codeOf(createContentDigest(body, []))).code).toBe('invalid_argument');
    expect((await codeOf(createContentDigest(body, ['md5' as 'sha-256']))).code).toBe('invalid_argument');
  });
});

describe('verifyContentDigest', () => {
  it('accepts matching digests and returns the algorithms checked', async () => {
    expect(await verifyContentDigest(SHA256, body)).toEqual(['sha-256']);
    expect(await verifyContentDigest(`${SHA512}, ${SHA256}`, body)).toEqual(['sha-512', 'sha-256']);
    expect(await verifyContentDigest(`md5=:AAAA:, ${SHA256}`, body)).toEqual(['sha-256']);
  });
  it('missing → invalid_input with required_input content-digest', async () => {
    const e = await codeOf(verifyContentDigest(undefined, body));
    expect(e.code).toBe('invalid_input');
    expect(e.requiredInput).toEqual(['content-digest']);
  });
  it('unparseable → invalid_request; a supported member that is not a Byte Sequence → invalid_request', async () => {
    expect((await codeOf(verifyContentDigest('sha-256=:x', body))).code).toBe('invalid_request');
    expect((await codeOf(verifyContentDigest('sha-256="abc"', body))).code).toBe('invalid_request');
  });
  it('no supported algorithm → invalid_input', async () => {
    expect((await codeOf(verifyContentDigest('md5=:AAAA:', body))).code).toBe('invalid_input');
    expect((await codeOf(verifyContentDigest(SHA512, body, { algorithms: ['sha-256'] }))).code).toBe('invalid_input');
  });
  it('a mismatch → invalid_signature "content-digest mismatch"; every supported algorithm must match', async () => {
    const other = new TextEncoder().encode('{"hello": "world!"}');
    const e = await codeOf(verifyContentDigest(SHA256, other));
    expect(e.code).toBe('invalid_signature');
    expect(e.detail).toContain('content-digest mismatch');
    const wrong512 = SHA512.replace('WZDP', 'XZDP');
    expect((await codeOf(verifyContentDigest(`${SHA256}, ${wrong512}`, body))).code).toBe('invalid_signature');
  });
  it('arbitrary header values produce a result or an AAuthError, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.constantFrom('sha-256=:', 'sha-256=:AA==:', 'sha-512=?1', 'a=(1 2)')), async (value) => {
        try {
          await verifyContentDigest(value, body);
        } catch (e) {
          expect(e).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('nodeDigest (@tessera/protocol/node)', () => {
  it('checks the RFC 9421 B / vectors.md digests exactly as WebCrypto does, and still refuses a mismatch', async () => {
    const { nodeDigest } = await import('../src/node/digest.js');
    expect(await verifyContentDigest(`${SHA256}, ${SHA512}`, body, { digest: nodeDigest })).toEqual(['sha-256', 'sha-512']);
    const other = new TextEncoder().encode('{"hello": "world!"}');
    expect((await codeOf(verifyContentDigest(SHA256, other, { digest: nodeDigest }))).code).toBe('invalid_signature');
  });

  it('equals webCryptoDigest on any content', async () => {
    const { nodeDigest } = await import('../src/node/digest.js');
    const { webCryptoDigest } = await import('../src/content-digest.js');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.constantFrom('sha-256' as const, 'sha-512' as const), async (bytes, alg) => {
        expect(Buffer.from(nodeDigest(alg, bytes)).equals(Buffer.from(await webCryptoDigest(alg, bytes)))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
