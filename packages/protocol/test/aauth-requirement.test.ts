import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Token, parseDictionary } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  buildAAuthRequirement,
  parseAAuthRequirement,
  serializeAAuthRequirement,
  type AAuthRequirement,
} from '../src/headers/aauth-requirement.js';
import { codeOf } from './support.js';

/** Vectors transcribed from aauth-dev/aauth-go testdata/vectors/requirement.json (see the file's `source`). */
const vectors = JSON.parse(readFileSync(new URL('./vectors/aauth-go/requirement.json', import.meta.url), 'utf8')) as {
  source: string;
  cases: { header: string; parsed: { Requirement: string; ResourceToken?: string; URL?: string; Code?: string }; canonical: boolean }[];
};

const RT = 'eyJhbGciOiJFZDI1NTE5In0.e30.c2ln';

describe('AAuth-Requirement', () => {
  it('builds every requirement', () => {
    expect(buildAAuthRequirement('agent-token')).toBe('requirement=agent-token');
    expect(buildAAuthRequirement('person-token')).toBe('requirement=person-token');
    expect(buildAAuthRequirement('approval')).toBe('requirement=approval');
    expect(buildAAuthRequirement('clarification')).toBe('requirement=clarification');
    expect(buildAAuthRequirement('claims')).toBe('requirement=claims');
    expect(buildAAuthRequirement('auth-token', { resourceToken: RT })).toBe(`requirement=auth-token;resource-token="${RT}"`);
    expect(buildAAuthRequirement('interaction', { url: 'https://resource.example/interaction', code: 'A1B2-C3D4' })).toBe(
      'requirement=interaction;url="https://resource.example/interaction";code="A1B2-C3D4"',
    );
  });

  it('makes a requirement without its required data a compile error', () => {
    // @ts-expect-error auth-token needs a resource token
    expect(() => buildAAuthRequirement('auth-token')).toThrow(AAuthError);
    // @ts-expect-error interaction needs url and code
    expect(() => buildAAuthRequirement('interaction', { url: 'https://r.example/i' })).toThrow(AAuthError);
    // @ts-expect-error agent-token takes no parameters
    buildAAuthRequirement('agent-token', { resourceToken: RT });
  });

  it('[§8.25] the auth-token challenge parses as an SF Dictionary', () => {
    const header = buildAAuthRequirement('auth-token', { resourceToken: RT });
    const dictionary = parseDictionary(header);
    const member = dictionary.get('requirement');
    expect(member?.[0]).toBeInstanceOf(Token);
    expect(String(member?.[0] as Token)).toBe('auth-token');
    expect((member?.[1] as Map<string, unknown>).get('resource-token')).toBe(RT);
    expect(parseAAuthRequirement(header)).toEqual({ requirement: 'auth-token', resourceToken: RT });
  });

  it('[§8.29] our builder never puts parameters on agent-token or person-token', () => {
    for (const r of ['agent-token', 'person-token'] as const) {
      expect(parseDictionary(buildAAuthRequirement(r)).get('requirement')?.[1]).toEqual(new Map());
    }
  });

  it('[§8.29] auth-token without resource-token is invalid', () => {
    expect(codeOf(() => parseAAuthRequirement('requirement=auth-token'))).toBe('invalid_header');
    expect(codeOf(() => parseAAuthRequirement('requirement=auth-token;resource-token=abc'))).toBe('invalid_header');
    expect(codeOf(() => parseAAuthRequirement('requirement=auth-token;resource-token=""'))).toBe('invalid_header');
    expect(codeOf(() => serializeAAuthRequirement({ requirement: 'auth-token', resourceToken: '' }))).toBe('invalid_argument');
  });

  it('[§8.28] unknown requirement values are returned as unknown; unknown parameters and members are ignored', () => {
    expect(parseAAuthRequirement('requirement=payment-2;amount=5')).toEqual({ requirement: 'unknown', value: 'payment-2' });
    expect(parseAAuthRequirement('requirement=agent-token;future="x", other=?1')).toEqual({ requirement: 'agent-token' });
    expect(parseAAuthRequirement(`requirement=auth-token;resource-token="${RT}";realm="x"`)).toEqual({
      requirement: 'auth-token',
      resourceToken: RT,
    });
  });

  it('[§8.29] parameters sent on agent-token or person-token by a peer are ignored', () => {
    expect(parseAAuthRequirement('requirement=person-token;resource-token="x"')).toEqual({ requirement: 'person-token' });
  });

  it('rejects a value without a requirement Token', () => {
    for (const header of ['', 'other=agent-token', 'requirement="agent-token"', 'requirement=(agent-token)', 'requirement', 'requirement=agent-token,']) {
      expect(codeOf(() => parseAAuthRequirement(header)), header).toBe('invalid_header');
    }
  });

  it('[§8.46] interaction needs an https url without query or fragment and a code', () => {
    expect(parseAAuthRequirement('requirement=interaction;url="https://ps.example/i";code="A1B2-C3D4"')).toEqual({
      requirement: 'interaction',
      url: 'https://ps.example/i',
      code: 'A1B2-C3D4',
    });
    for (const header of [
      'requirement=interaction;url="http://ps.example/i";code="A1B2C3D4"',
      'requirement=interaction;url="https://ps.example/i?x=1";code="A1B2C3D4"',
      'requirement=interaction;url="https://ps.example/i#f";code="A1B2C3D4"',
      'requirement=interaction;url="https://ps.example/i"',
      'requirement=interaction;code="A1B2C3D4"',
      'requirement=interaction;url="https://ps.example/i";code=A1B2C3D4',
    ]) {
      expect(codeOf(() => parseAAuthRequirement(header)), header).toBe('invalid_header');
    }
    expect(codeOf(() => buildAAuthRequirement('interaction', { url: 'https://ps.example/i?x=1', code: 'A1B2C3D4' }))).toBe('invalid_argument');
    expect(codeOf(() => buildAAuthRequirement('interaction', { url: 'https://ps.example/i', code: 'SHORT' }))).toBe('invalid_argument');
    expect(codeOf(() => buildAAuthRequirement('interaction', { url: 'https://ps.example/i', code: 'ABCDEFGU' }))).toBe('invalid_argument');
  });

  it('accepts a loopback http interaction url only when the development option is set', () => {
    const header = 'requirement=interaction;url="http://localhost:8080/i";code="A1B2C3D4"';
    expect(codeOf(() => parseAAuthRequirement(header))).toBe('invalid_header');
    expect(parseAAuthRequirement(header, { allowLoopbackHttp: true })).toMatchObject({ requirement: 'interaction' });
    expect(buildAAuthRequirement('interaction', { url: 'http://127.0.0.1:9/i', code: 'A1B2C3D4' }, { allowLoopbackHttp: true })).toContain(
      'http://127.0.0.1:9/i',
    );
  });

  describe(`aauth-go vectors (${vectors.source})`, () => {
    for (const c of vectors.cases) {
      it(`parses ${c.header}`, () => {
        const parsed = parseAAuthRequirement(c.header);
        expect(parsed.requirement).toBe(c.parsed.Requirement);
        if (parsed.requirement === 'auth-token') expect(parsed.resourceToken).toBe(c.parsed.ResourceToken);
        if (parsed.requirement === 'interaction') {
          expect(parsed.url).toBe(c.parsed.URL);
          expect(parsed.code).toBe(c.parsed.Code);
        }
        if (c.canonical && parsed.requirement !== 'unknown') {
          // aauth-go's canonical form separates parameters with "; "; ours is RFC 9651's serialization (no space).
          expect(serializeAAuthRequirement(parsed)).toBe(c.header.replaceAll('; ', ';'));
        }
      });
    }
  });

  it('round-trips serialize → parse', () => {
    const crockford = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{8,12}$/);
    const req: fc.Arbitrary<AAuthRequirement> = fc.oneof(
      fc.constantFrom('agent-token', 'person-token', 'approval', 'clarification', 'claims').map((requirement) => ({ requirement })),
      fc.string({ minLength: 1, maxLength: 60 }).filter((s) => /^[\x20-\x7e]+$/.test(s)).map((resourceToken) => ({ requirement: 'auth-token' as const, resourceToken })),
      fc
        .tuple(fc.stringMatching(/^https:\/\/[a-z]{1,8}\.example(\/[a-z]{0,6}){0,3}$/), crockford)
        .map(([url, code]) => ({ requirement: 'interaction' as const, url, code })),
    );
    fc.assert(
      fc.property(req, (r) => {
        expect(parseAAuthRequirement(serializeAAuthRequirement(r))).toEqual(r);
      }),
    );
  });

  it('given any string, the parser returns or throws only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^requirement=[a-z-]{1,12}(;[a-z-]{1,14}=("[^"]*"|[a-z]+))*$/)), (s) => {
        try {
          parseAAuthRequirement(s);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
