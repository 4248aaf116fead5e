import { describe, it, expect } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { b64urlDecode, fromUtf8 } from '../src/base64url.js';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import type { PublicJwk, Signer } from '../src/crypto/types.js';
import { jwkThumbprint } from '../src/crypto/thumbprint.js';
import { mintAgentToken } from '../src/tokens/agent-token.js';
import { mintAuthToken, mintAuthTokenWithClaims } from '../src/tokens/auth-token.js';
import { mintPersonToken, mintPersonTokenWithClaims } from '../src/tokens/person-token.js';
import { mintResourceToken } from '../src/tokens/resource-token.js';
import type { MintClaims } from '../src/tokens/claims.js';
import type { PersonTokenClaims } from '../src/tokens/person-token.js';

const NOW = 1_800_000_000;
const now = (): number => NOW;
const AGENT_JWK: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs', alg: 'Ed25519' };

function parts(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.') as [string, string];
  return { header: JSON.parse(fromUtf8(b64urlDecode(h))) as Record<string, unknown>, payload: JSON.parse(fromUtf8(b64urlDecode(p))) as Record<string, unknown> };
}

async function rejectCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
  throw new Error('expected a rejection');
}

const signerWith = async (kid: string): Promise<Signer> => createSigner(await generateKeyPair('Ed25519', kid));
const ap = await signerWith('ap-key-1');
const ps = await signerWith('ps-key-1');
const rs = await signerWith('rs-key-1');
const as = await signerWith('as-key-1');

const agentClaims = { iss: 'https://agent.example', sub: 'aauth:assistant@agent.example', cnf: { jwk: AGENT_JWK } };
const personClaims: MintClaims<PersonTokenClaims> = {
  iss: 'https://ps.example',
  aud: 'https://resource.example',
  sub: 'pairwise-1',
  cnf: { jwk: AGENT_JWK },
};

describe('mintAgentToken', () => {
  it('[§8.17] sets header {alg, typ, kid}, dwk, iat/exp from the clock, a random jti', async () => {
    const jwt = await mintAgentToken(ap, agentClaims, { now });
    const { header, payload } = parts(jwt);
    expect(Object.keys(header)).toEqual(['alg', 'typ', 'kid']);
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'ap-key-1' });
    expect(payload).toMatchObject({ iss: 'https://agent.example', dwk: 'aauth-agent.json', iat: NOW, exp: NOW + 3600 });
    expect(Object.keys(payload).slice(0, 2)).toEqual(['iss', 'dwk']);
    expect(Object.keys(payload).slice(-2)).toEqual(['iat', 'exp']);
    expect(payload['jti']).toMatch(/^[0-9a-f]{32}$/);
    expect(parts(await mintAgentToken(ap, agentClaims, { now })).payload['jti']).not.toBe(payload['jti']);
  });

  it('caps the lifetime at 24 h and clamps to notAfter', async () => {
    expect(parts(await mintAgentToken(ap, agentClaims, { now, ttl: 86400 })).payload['exp']).toBe(NOW + 86400);
    expect(await rejectCode(mintAgentToken(ap, agentClaims, { now, ttl: 86401 }))).toBe('invalid_argument');
    expect(parts(await mintAgentToken(ap, agentClaims, { now, notAfter: NOW + 10 })).payload['exp']).toBe(NOW + 10);
  });

  it('requires sub and cnf.jwk with a fully specified alg; refuses iat/exp inputs and a kid-less signer', async () => {
    const { sub: _s, ...noSub } = agentClaims;
    expect(await rejectCode(mintAgentToken(ap, noSub as typeof agentClaims, { now }))).toBe('invalid_argument');
    expect(await rejectCode(mintAgentToken(ap, { ...agentClaims, cnf: undefined } as unknown as typeof agentClaims, { now }))).toBe('invalid_argument');
    const { alg: _a, ...noAlg } = AGENT_JWK;
    expect(await rejectCode(mintAgentToken(ap, { ...agentClaims, cnf: { jwk: noAlg as PublicJwk } }, { now }))).toBe('invalid_key');
    expect(await rejectCode(mintAgentToken(ap, { ...agentClaims, dwk: 'aauth-person.json' } as never, { now }))).toBe('invalid_argument');
    expect(await rejectCode(mintAgentToken(ap, { ...agentClaims, exp: NOW + 5 }, { now }))).toBe('invalid_argument');
    const noKid = await createSigner({ ...(await generateKeyPair('Ed25519')), kid: '' });
    expect(await rejectCode(mintAgentToken(noKid, agentClaims, { now }))).toBe('invalid_argument');
    expect(await rejectCode(mintAgentToken(ap, agentClaims, { now, ttl: 0 }))).toBe('invalid_argument');
  });
});

describe('mintPersonToken', () => {
  it('[§8.19] aud, directed sub, cnf; lifetime ≤ 1 h', async () => {
    const { header, payload } = parts(await mintPersonToken(ps, personClaims, { now }));
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-person+jwt', kid: 'ps-key-1' });
    expect(payload).toMatchObject({ dwk: 'aauth-person.json', aud: 'https://resource.example', sub: 'pairwise-1', exp: NOW + 3600 });
    expect(await rejectCode(mintPersonToken(ps, personClaims, { now, ttl: 3601 }))).toBe('invalid_argument');
    const { aud: _aud, ...noAud } = personClaims;
    expect(await rejectCode(mintPersonToken(ps, noAud as typeof personClaims, { now }))).toBe('invalid_argument');
  });

  it('[§8.19] refuses scope and account', async () => {
    expect(await rejectCode(mintPersonToken(ps, { ...personClaims, scope: 'data.read' }, { now }))).toBe('invalid_argument');
    expect(await rejectCode(mintPersonToken(ps, { ...personClaims, account: 'acct-1' }, { now }))).toBe('invalid_argument');
  });

  it('[§8.19] never outlives the agent token or the mission: notAfter clamps exp; a past bound is refused', async () => {
    const agentExp = NOW + 600;
    expect(parts(await mintPersonToken(ps, personClaims, { now, notAfter: agentExp })).payload['exp']).toBe(agentExp);
    expect(await rejectCode(mintPersonToken(ps, personClaims, { now, notAfter: NOW }))).toBe('invalid_argument');
    const withMission = await mintPersonToken(ps, { ...personClaims, mission_s256: 'oUGMvesWihE6Xaj3bgFoDEoJ5-SJvsIuIHOWdPnG6K8', tenant: 't1' }, { now });
    expect(parts(withMission).payload).toMatchObject({ mission_s256: 'oUGMvesWihE6Xaj3bgFoDEoJ5-SJvsIuIHOWdPnG6K8', tenant: 't1' });
  });
});

describe('mintResourceToken', () => {
  const base = {
    iss: 'https://resource.example',
    aud: 'https://ps.example',
    ps: 'https://ps.example',
    sub: 'pairwise-1',
    presented_jti: 'pt-1',
    agent_jkt: 'poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U',
    scope: 'data.read',
  };

  it('[§8.24] requires ps, sub, presented_jti, agent_jkt, scope; lifetime ≤ 5 min, default 5 min', async () => {
    const { header, payload } = parts(await mintResourceToken(rs, base, { now }));
    expect(header['typ']).toBe('aa-resource+jwt');
    expect(payload).toMatchObject({ dwk: 'aauth-resource.json', exp: NOW + 300 });
    expect(payload).not.toHaveProperty('cnf');
    expect(await rejectCode(mintResourceToken(rs, base, { now, ttl: 301 }))).toBe('invalid_argument');
    for (const claim of ['aud', 'ps', 'sub', 'presented_jti', 'agent_jkt', 'scope'] as const) {
      const { [claim]: _omit, ...rest } = base;
      expect(await rejectCode(mintResourceToken(rs, rest as typeof base, { now }))).toBe('invalid_argument');
    }
  });

  it('an R3 r3_uri may stand in for scope; interaction must be {url, code}', async () => {
    const { scope: _s, ...noScope } = base;
    await expect(mintResourceToken(rs, { ...noScope, r3_uri: 'https://resource.example/r3/1' }, { now })).resolves.toBeTypeOf('string');
    expect(await rejectCode(mintResourceToken(rs, { ...base, interaction: { url: 'https://resource.example/i' } } as never, { now }))).toBe('invalid_argument');
  });
});

describe('mintAuthToken', () => {
  const base = {
    iss: 'https://ps.example',
    aud: 'https://resource.example',
    ps: 'https://ps.example',
    sub: 'pairwise-1',
    scope: 'data.read',
    cnf: { jwk: AGENT_JWK },
  };

  it('[§8.35] three-party: dwk aauth-person.json, iss = ps, sub present, ≤ 1 h', async () => {
    const { header, payload } = parts(await mintAuthToken(ps, base, { now }));
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-auth+jwt', kid: 'ps-key-1' });
    expect(payload).toMatchObject({ dwk: 'aauth-person.json', iss: 'https://ps.example', ps: 'https://ps.example', exp: NOW + 3600 });
    expect(await rejectCode(mintAuthToken(ps, { ...base, ps: 'https://other-ps.example' }, { now }))).toBe('invalid_argument');
    const { sub: _sub, ...noSub } = base;
    expect(await rejectCode(mintAuthToken(ps, noSub as typeof base, { now }))).toBe('invalid_argument');
    expect(await rejectCode(mintAuthToken(ps, base, { now, ttl: 3601 }))).toBe('invalid_argument');
  });

  it('[§8.38] four-party: an AS issues with dwk aauth-access.json and ps naming the PS', async () => {
    const jwt = await mintAuthToken(as, { ...base, iss: 'https://as.example', dwk: 'aauth-access.json' }, { now });
    expect(parts(jwt).payload).toMatchObject({ iss: 'https://as.example', dwk: 'aauth-access.json', ps: 'https://ps.example' });
    expect(await rejectCode(mintAuthToken(as, { ...base, dwk: 'aauth-resource.json' } as never, { now }))).toBe('invalid_argument');
  });

  it('[§8.41] caps exp at 1 h, the agent token, the presented token and the mission (earliest notAfter)', async () => {
    const bound = Math.min(NOW + 1800 /* agent token exp */, NOW + 900 /* mission expires_at */);
    expect(parts(await mintAuthToken(ps, base, { now, notAfter: bound })).payload['exp']).toBe(NOW + 900);
    expect(parts(await mintAuthToken(ps, base, { now, notAfter: NOW + 7200 })).payload['exp']).toBe(NOW + 3600);
  });

  it('the WithClaims forms answer exactly the claims their token carries, and refuse what the plain forms refuse', async () => {
    const auth = await mintAuthTokenWithClaims(ps, base, { now, notAfter: NOW + 900 });
    expect(auth.claims).toEqual(parts(auth.token).payload);
    expect(auth.claims).toMatchObject({ exp: NOW + 900, iat: NOW });
    const person = await mintPersonTokenWithClaims(ps, personClaims, { now });
    expect(person.claims).toEqual(parts(person.token).payload);
    expect(typeof person.claims.jti).toBe('string');
    expect(await rejectCode(mintAuthTokenWithClaims(ps, { ...base, ps: 'https://other-ps.example' }, { now }))).toBe('invalid_argument');
  });

  it('cnf.jwk is required and policy-checked', async () => {
    expect(await rejectCode(mintAuthToken(ps, { ...base, cnf: { jwk: { ...AGENT_JWK, alg: 'EdDSA' } as unknown as PublicJwk } }, { now }))).toBe('invalid_key');
    const { cnf: _cnf, ...noCnf } = base;
    expect(await rejectCode(mintAuthToken(ps, noCnf as typeof base, { now }))).toBe('invalid_argument');
  });
});

describe('signers own their alg', () => {
  it('ES256 issuers produce ES256 headers', async () => {
    const es = await createSigner(await generateKeyPair('ES256', 'es-1'));
    const { header } = parts(await mintAgentToken(es, agentClaims, { now }));
    expect(header).toEqual({ alg: 'ES256', typ: 'aa-agent+jwt', kid: 'es-1' });
    expect(await jwkThumbprint(publicJwkOf(await generateKeyPair('ES256')))).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
