import { describe, it, expect } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { importVerifyKey } from '../src/crypto/verify-key.js';
import type { PublicJwk, VerifyKey } from '../src/crypto/types.js';
import { mintAgentToken } from '../src/tokens/agent-token.js';
import { mintPersonToken } from '../src/tokens/person-token.js';
import { VerifiedTokenCache } from '../src/tokens/token-cache.js';
import { verifyToken } from '../src/tokens/verify-token.js';
import type { KeyResolver } from '../src/tokens/verify-token.js';

const T0 = 1_800_000_000;
const AGENT_JWK: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs', alg: 'Ed25519' };

const apPrivate = await generateKeyPair('Ed25519', 'ap-1');
const ap = await createSigner(apPrivate);
const psPrivate = await generateKeyPair('Ed25519', 'ps-1');
const ps = await createSigner(psPrivate);
const keys: Record<string, VerifyKey> = {
  'https://agent.example': await importVerifyKey(publicJwkOf(apPrivate)),
  'https://ps.example': await importVerifyKey(publicJwkOf(psPrivate)),
};

function countingResolver(): KeyResolver & { count: number } {
  const fn = Object.assign(
    (request: { iss: string }): Promise<VerifyKey> => {
      fn.count++;
      const key = keys[request.iss];
      return key === undefined ? Promise.reject(new AAuthError('unknown_key')) : Promise.resolve(key);
    },
    { count: 0 },
  );
  return fn;
}

const agentToken = (ttl = 600): Promise<string> =>
  mintAgentToken(ap, { iss: 'https://agent.example', sub: 'aauth:a@agent.example', cnf: { jwk: AGENT_JWK } }, { now: () => T0, ttl });
const personToken = (): Promise<string> =>
  mintPersonToken(ps, { iss: 'https://ps.example', aud: 'https://resource.example', sub: 's', cnf: { jwk: AGENT_JWK } }, { now: () => T0, ttl: 600 });

describe('VerifiedTokenCache', () => {
  it('a hit costs no key resolution and returns the imported cnfKey', async () => {
    let clock = T0;
    const now = (): number => clock;
    const cache = new VerifiedTokenCache({ now });
    const resolveKey = countingResolver();
    const jwt = await agentToken();
    const first = await cache.verify(jwt, { accept: ['aa-agent+jwt'], resolveKey, now });
    clock += 100;
    const second = await cache.verify(jwt, { accept: ['aa-agent+jwt'], resolveKey, now });
    expect(second).toBe(first);
    expect(second.cnfKey.thumbprint).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
    expect(resolveKey.count).toBe(1);
  });

  it('entries expire with the token: after exp a lookup misses and re-verification says expired_jwt', async () => {
    let clock = T0;
    const now = (): number => clock;
    const cache = new VerifiedTokenCache({ now });
    const resolveKey = countingResolver();
    const jwt = await agentToken(60);
    await cache.verify(jwt, { accept: ['aa-agent+jwt'], resolveKey, now });
    clock = T0 + 60;
    expect(cache.get(jwt)).toBeUndefined();
    expect(cache.size).toBe(0);
    await expect(cache.verify(jwt, { accept: ['aa-agent+jwt'], resolveKey, now })).rejects.toMatchObject({ code: 'expired_jwt' });
    expect(cache.size).toBe(0);
  });

  it('[§8.22] a cached person token is never returned where only auth tokens are accepted', async () => {
    const now = (): number => T0;
    const cache = new VerifiedTokenCache({ now });
    const resolveKey = countingResolver();
    const jwt = await personToken();
    await cache.verify(jwt, { accept: ['aa-person+jwt'], resolveKey, now });
    await expect(cache.verify(jwt, { accept: ['aa-auth+jwt'], resolveKey, now })).rejects.toMatchObject({ code: 'invalid_jwt' });
    await expect(cache.verify(jwt, { accept: ['aa-person+jwt'], resolveKey, now, audience: 'https://elsewhere.example' })).rejects.toMatchObject({ code: 'invalid_jwt' });
    await expect(cache.verify(jwt, { accept: ['aa-person+jwt'], resolveKey, now, issuer: 'https://other-ps.example' })).rejects.toMatchObject({ code: 'invalid_jwt' });
    await expect(cache.verify(jwt, { accept: ['aa-person+jwt'], resolveKey, now, audience: 'https://resource.example' })).resolves.toMatchObject({ kind: 'aa-person+jwt' });
  });

  it('failures are not cached', async () => {
    const now = (): number => T0;
    const cache = new VerifiedTokenCache({ now });
    const jwt = await agentToken();
    await expect(cache.verify(jwt, { accept: ['aa-agent+jwt'], resolveKey: () => Promise.reject(new AAuthError('unknown_key')), now })).rejects.toBeInstanceOf(AAuthError);
    expect(cache.size).toBe(0);
  });

  it('a hit needs the whole token: one that carries a cached token\'s signature over another payload misses, fails, and displaces nothing', async () => {
    const now = (): number => T0;
    const cache = new VerifiedTokenCache({ now });
    const resolveKey = countingResolver();
    const [a, b] = [await agentToken(), await agentToken(600)];
    const ra = await cache.verify(a, { accept: ['aa-agent+jwt'], resolveKey, now });
    const [headerB, payloadB] = b.split('.');
    const forged = `${headerB}.${payloadB}.${a.split('.')[2]}`;
    expect(forged).not.toBe(a);
    expect(cache.get(forged)).toBeUndefined();
    await expect(cache.verify(forged, { accept: ['aa-agent+jwt'], resolveKey, now })).rejects.toBeInstanceOf(AAuthError);
    expect(cache.delete(forged)).toBe(false);
    expect(cache.get(a)).toBe(ra);
    expect(cache.size).toBe(1);
  });

  it('evicts the least recently used first, with a bound of several entries', async () => {
    const now = (): number => T0;
    const cache = new VerifiedTokenCache({ now, maxEntries: 3 });
    const resolveKey = countingResolver();
    const tokens = [await agentToken(), await agentToken(), await agentToken(), await agentToken()];
    const results = await Promise.all(tokens.map((t) => verifyToken(t, { accept: ['aa-agent+jwt'], resolveKey, now })));
    const [a, b, c, d] = tokens as [string, string, string, string];
    cache.set(a, results[0]!);
    cache.set(b, results[1]!);
    cache.set(c, results[2]!);
    cache.get(a);
    cache.get(b);
    cache.set(d, results[3]!); // a and b were used since c was: c goes
    expect([cache.get(a), cache.get(b), cache.get(c), cache.get(d)]).toEqual([results[0], results[1], undefined, results[3]]);
    cache.set(c, results[2]!); // used last: a, b, d (in that order): a goes
    expect(cache.get(a)).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it('is bounded (LRU) and supports get/set/delete/clear', async () => {
    const now = (): number => T0;
    const cache = new VerifiedTokenCache({ now, maxEntries: 2 });
    const resolveKey = countingResolver();
    const [a, b, c] = [await agentToken(), await agentToken(), await agentToken()];
    const ra = await verifyToken(a, { accept: ['aa-agent+jwt'], resolveKey, now });
    const rb = await verifyToken(b, { accept: ['aa-agent+jwt'], resolveKey, now });
    const rc = await verifyToken(c, { accept: ['aa-agent+jwt'], resolveKey, now });
    cache.set(a, ra);
    cache.set(b, rb);
    expect(cache.get(a)).toBe(ra); // a is now most recent
    cache.set(c, rc); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.get(b)).toBeUndefined();
    expect(cache.get(a)).toBe(ra);
    expect(cache.delete(a)).toBe(true);
    expect(cache.get(a)).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    expect(() => new VerifiedTokenCache({ now, maxEntries: 0 })).toThrow(AAuthError);
  });
});
