import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  isAgentIdentifier,
  isServerIdentifier,
  parseAgentIdentifier,
  parseServerIdentifier,
  validateEndpointUrl,
} from '../src/identifiers.js';
import { codeOf } from './support.js';

/** Vectors transcribed from aauth-dev/aauth-go testdata/vectors/{server,agent}-identifier.json (see each file's `source`). */
const serverVectors = JSON.parse(readFileSync(new URL('./vectors/aauth-go/server-identifier.json', import.meta.url), 'utf8')) as {
  source: string;
  cases: { input: string; valid: boolean }[];
};
const agentVectors = JSON.parse(readFileSync(new URL('./vectors/aauth-go/agent-identifier.json', import.meta.url), 'utf8')) as {
  source: string;
  cases: { input: string; valid: boolean; name?: string; discriminator?: string; domain?: string }[];
};

describe('server identifiers', () => {
  it('[§8.16] rejects http, uppercase, a port, a path and a trailing slash', () => {
    for (const id of ['http://agent.example', 'https://Agent.Example', 'https://agent.example:8443', 'https://agent.example/v1', 'https://agent.example/']) {
      expect(codeOf(() => parseServerIdentifier(id)), id).toBe('invalid_identifier');
    }
  });

  it('accepts https://host and A-labels', () => {
    expect(parseServerIdentifier('https://agent.example')).toEqual({ kind: 'https', identifier: 'https://agent.example', host: 'agent.example' });
    expect(isServerIdentifier('https://xn--nxasmq6b.example')).toBe(true);
  });

  it('rejects userinfo, query, fragment, U-labels, bad labels and IP literals', () => {
    for (const id of [
      'https://user@agent.example',
      'https://agent.example?x',
      'https://agent.example#',
      'https://ägent.example',
      'https://-a.example',
      'https://a-.example',
      'https://a..example',
      'https://.example',
      'https://example.',
      'https://ab--cd.example',
      'https://xn--.example',
      'https://127.0.0.1',
      'https://[::1]',
      `https://${'a'.repeat(64)}.example`,
      'https://a_b.example',
      ' https://agent.example',
      'HTTPS://agent.example',
    ]) {
      expect(isServerIdentifier(id), id).toBe(false);
    }
  });

  it('accepts loopback http identifiers only with the development option', () => {
    expect(isServerIdentifier('http://localhost:8443')).toBe(false);
    expect(parseServerIdentifier('http://localhost:8443', { allowLoopbackHttp: true })).toEqual({
      kind: 'loopback-http',
      identifier: 'http://localhost:8443',
      host: 'localhost',
      port: 8443,
    });
    expect(isServerIdentifier('http://127.0.0.1:3000', { allowLoopbackHttp: true })).toBe(true);
    for (const id of ['http://localhost:0', 'http://localhost:65536', 'http://localhost:080', 'http://localhost:80/', 'http://example.com:80', 'http://localhost.:1', 'http://127.0.0.2:1']) {
      expect(isServerIdentifier(id, { allowLoopbackHttp: true }), id).toBe(false);
    }
  });

  describe(`aauth-go vectors (${serverVectors.source})`, () => {
    for (const c of serverVectors.cases) {
      it(`${c.input} is ${c.valid ? 'valid' : 'invalid'}`, () => {
        expect(isServerIdentifier(c.input)).toBe(c.valid);
      });
    }
  });

  it('given any string, returns or throws only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string().map((s) => `https://${s}`)), (s) => {
        for (const opts of [{}, { allowLoopbackHttp: true }]) {
          try {
            const id = parseServerIdentifier(s, opts);
            expect(id.identifier).toBe(s);
          } catch (error) {
            expect(error).toBeInstanceOf(AAuthError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('agent identifiers', () => {
  it('parses a top-level agent', () => {
    expect(parseAgentIdentifier('aauth:assistant@agent.example')).toEqual({
      identifier: 'aauth:assistant@agent.example',
      local: 'assistant',
      domain: 'agent.example',
      isSubAgent: false,
    });
  });

  it('exposes the sub-agent naming convention (informational; parent_agent is authoritative)', () => {
    expect(parseAgentIdentifier('aauth:planner.7f3c+search1@vendor.example')).toEqual({
      identifier: 'aauth:planner.7f3c+search1@vendor.example',
      local: 'planner.7f3c+search1',
      domain: 'vendor.example',
      isSubAgent: true,
      parent: 'aauth:planner.7f3c@vendor.example',
      discriminator: 'search1',
    });
  });

  it('[§8.16] rejects malformed agent identifiers', () => {
    for (const id of ['My Agent@agent.example', 'aauth:a+b+c@agent.example', 'aauth:a@b@agent.example', 'aauth:a@localhost:80', 'AAUTH:a@agent.example', 'aauth:a!@agent.example']) {
      expect(codeOf(() => parseAgentIdentifier(id)), id).toBe('invalid_identifier');
    }
  });

  it('is case-sensitive and never folds the local part', () => {
    expect(parseAgentIdentifier('aauth:Agent@agent.example').local).toBe('Agent');
  });

  describe(`aauth-go vectors (${agentVectors.source})`, () => {
    for (const c of agentVectors.cases) {
      it(`${c.input.length > 60 ? `${c.input.slice(0, 40)}…(${c.input.length})` : c.input} is ${c.valid ? 'valid' : 'invalid'}`, () => {
        expect(isAgentIdentifier(c.input)).toBe(c.valid);
        if (!c.valid) return;
        const id = parseAgentIdentifier(c.input);
        expect(id.domain).toBe(c.domain);
        if (id.isSubAgent) {
          expect(id.parent).toBe(`aauth:${c.name}@${c.domain}`);
          expect(id.discriminator).toBe(c.discriminator);
        } else {
          expect(id.local).toBe(c.name);
          expect(c.discriminator).toBeUndefined();
        }
      });
    }
  });

  it('round-trips generated identifiers and never throws anything but AAuthError', () => {
    const local = fc.stringMatching(/^[A-Za-z0-9._-]{1,30}(\+[A-Za-z0-9._-]{1,10})?$/);
    const domain = fc.stringMatching(/^[a-z]([a-z0-9]{0,3}-?[a-z0-9]{1,4})?(\.[a-z]{2,6}){1,2}$/);
    fc.assert(
      fc.property(local, domain, (l, d) => {
        const id = parseAgentIdentifier(`aauth:${l}@${d}`);
        expect(id.local).toBe(l);
        expect(id.domain).toBe(d);
        expect(id.isSubAgent).toBe(l.includes('+'));
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string().map((s) => `aauth:${s}`)), (s) => {
        try {
          parseAgentIdentifier(s);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('endpoint URLs', () => {
  it('accepts https URLs without query or fragment', () => {
    expect(validateEndpointUrl('https://ps.example/token')).toBe('https://ps.example/token');
    expect(validateEndpointUrl('https://ps.example')).toBe('https://ps.example');
    expect(validateEndpointUrl('https://ps.example:8443/a/b')).toBe('https://ps.example:8443/a/b');
  });

  it('rejects http, a query, a fragment (even empty), userinfo and whitespace', () => {
    for (const url of [
      'http://ps.example/token',
      'https://ps.example/token?x=1',
      'https://ps.example/token?',
      'https://ps.example/token#',
      'https://user:pw@ps.example/token',
      'https://@ps.example/token',
      'https://ps.example/to ken',
      'https:ps.example/token',
      'https:/ps.example',
      'ftp://ps.example',
      'https://',
      '/token',
      'https://ps.example\\token',
    ]) {
      expect(codeOf(() => validateEndpointUrl(url)), url).toBe('invalid_identifier');
    }
  });

  it('accepts loopback http only with the development option', () => {
    expect(codeOf(() => validateEndpointUrl('http://localhost:3000/token'))).toBe('invalid_identifier');
    expect(validateEndpointUrl('http://localhost:3000/token', { allowLoopbackHttp: true })).toBe('http://localhost:3000/token');
    expect(codeOf(() => validateEndpointUrl('http://evil.example/token', { allowLoopbackHttp: true }))).toBe('invalid_identifier');
  });

  it('given any string, returns or throws only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.webUrl({ withQueryParameters: true, withFragments: true })), (s) => {
        try {
          validateEndpointUrl(s);
          expect(s.startsWith('https://') && !s.includes('?') && !s.includes('#')).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
