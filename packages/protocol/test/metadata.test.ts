import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  METADATA_DOCUMENTS,
  effectiveAccessMode,
  metadataKindOf,
  parseMetadata,
  parseResourceMetadata,
} from '../src/metadata/index.js';
import type { MetadataKind } from '../src/metadata/index.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
  return 'ok';
}

// Examples from AAuth -11 §Agent Provider / Person Server / Access Server / Resource Metadata.
const AGENT = {
  issuer: 'https://agent.example',
  jwks_uri: 'https://agent.example/.well-known/jwks.json',
  name: 'Example AI Assistant',
  description: '**Example AI Assistant** drafts and sends email on your behalf.',
  logo_uri: 'https://agent.example/logo.png',
  logo_dark_uri: 'https://agent.example/logo-dark.png',
  documentation_uri: 'https://agent.example/docs',
  callback_endpoint: 'https://agent.example/callback',
  event_endpoint: 'https://agent.example/events',
  localhost_callback_allowed: true,
  tos_uri: 'https://agent.example/tos',
  policy_uri: 'https://agent.example/privacy',
};

const PERSON = {
  issuer: 'https://ps.example',
  name: 'Example Person Server',
  auth_token_endpoint: 'https://ps.example/token',
  person_token_endpoint: 'https://ps.example/person',
  mission_endpoint: 'https://ps.example/mission',
  permission_endpoint: 'https://ps.example/permission',
  audit_endpoint: 'https://ps.example/audit',
  interaction_endpoint: 'https://ps.example/interaction',
  mission_control_endpoint: 'https://ps.example/mission-control',
  jwks_uri: 'https://ps.example/.well-known/jwks.json',
  scopes_supported: ['openid', 'email'],
  accept_signature_algs: ['Ed25519', 'ES256'],
};

const ACCESS = {
  issuer: 'https://as.resource.example',
  auth_token_endpoint: 'https://as.resource.example/token',
  jwks_uri: 'https://as.resource.example/.well-known/jwks.json',
};

const RESOURCE = {
  issuer: 'https://resource.example',
  jwks_uri: 'https://resource.example/.well-known/jwks.json',
  access_mode: 'auth-token',
  authorization_endpoint: 'https://resource.example/authorize',
  scope_descriptions: { 'data.read': 'Read access to your data and documents' },
  additional_signature_components: ['content-type', 'content-digest'],
  signature_window: 120,
};

describe('metadata documents', () => {
  it('parses the four -11 spec examples', () => {
    const agent = parseMetadata('agent', AGENT, { expectedIssuer: 'https://agent.example' });
    expect(agent.callback_endpoint).toBe('https://agent.example/callback');
    expect(agent.localhost_callback_allowed).toBe(true);
    const person = parseMetadata('person', PERSON, { expectedIssuer: 'https://ps.example' });
    expect(person.person_token_endpoint).toBe('https://ps.example/person');
    expect(person.accept_signature_algs).toEqual(['Ed25519', 'ES256']);
    const access = parseMetadata('access', ACCESS, { expectedIssuer: 'https://as.resource.example' });
    expect(access.auth_token_endpoint).toBe('https://as.resource.example/token');
    const resource = parseMetadata('resource', RESOURCE, { expectedIssuer: 'https://resource.example' });
    expect(resource.access_mode).toBe('auth-token');
    expect(resource.signature_window).toBe(120);
    expect(resource.scope_descriptions).toEqual({ 'data.read': 'Read access to your data and documents' });
  });

  it('ignores unknown members', () => {
    const person = parseMetadata('person', { ...PERSON, token_endpoint: 'x', future_thing: { a: 1 } }, { expectedIssuer: 'https://ps.example' });
    expect('future_thing' in person).toBe(false);
    expect('token_endpoint' in person).toBe(false);
  });

  it('[§8.13] no issuer → issuer_missing', () => {
    const { issuer: _issuer, ...rest } = PERSON;
    expect(code(() => parseMetadata('person', rest, { expectedIssuer: 'https://ps.example' }))).toBe('issuer_missing');
    expect(code(() => parseMetadata('agent', { ...AGENT, issuer: null }, { expectedIssuer: 'https://agent.example' }))).toBe('issuer_missing');
  });

  it('[§8.13] an issuer differing by one byte → issuer_mismatch', () => {
    for (const issuer of ['https://ps.example/', 'https://ps.exampl', 'https://PS.example', 'https://ps.example.', 'https://ps.examplf', 'http://ps.example']) {
      expect(code(() => parseMetadata('person', { ...PERSON, issuer }, { expectedIssuer: 'https://ps.example' })), issuer).toBe('issuer_mismatch');
    }
    expect(code(() => parseMetadata('person', { ...PERSON, issuer: 42 }, { expectedIssuer: 'https://ps.example' }))).toBe('issuer_mismatch');
  });

  it('[§8.13] the issuer check runs before other validation', () => {
    expect(code(() => parseMetadata('person', { issuer: 'https://evil.example' }, { expectedIssuer: 'https://ps.example' }))).toBe('issuer_mismatch');
  });

  it('person metadata: person_token_endpoint and auth_token_endpoint are REQUIRED', () => {
    const { person_token_endpoint: _p, ...noPerson } = PERSON;
    const { auth_token_endpoint: _a, ...noAuth } = PERSON;
    const { jwks_uri: _j, ...noJwks } = PERSON;
    const opts = { expectedIssuer: 'https://ps.example' };
    expect(code(() => parseMetadata('person', noPerson, opts))).toBe('invalid_metadata');
    expect(code(() => parseMetadata('person', noAuth, opts))).toBe('invalid_metadata');
    expect(code(() => parseMetadata('person', noJwks, opts))).toBe('invalid_metadata');
  });

  it('access metadata: auth_token_endpoint is REQUIRED; agent: jwks_uri is REQUIRED', () => {
    const { auth_token_endpoint: _a, ...noEndpoint } = ACCESS;
    expect(code(() => parseMetadata('access', noEndpoint, { expectedIssuer: ACCESS.issuer }))).toBe('invalid_metadata');
    const { jwks_uri: _j, ...noJwks } = AGENT;
    expect(code(() => parseMetadata('agent', noJwks, { expectedIssuer: AGENT.issuer }))).toBe('invalid_metadata');
  });

  it('resource metadata: jwks_uri is optional', () => {
    const { jwks_uri: _j, ...noJwks } = RESOURCE;
    expect(parseResourceMetadata(noJwks, { expectedIssuer: RESOURCE.issuer }).jwks_uri).toBeUndefined();
  });

  it('endpoint URLs must be https with no query or fragment', () => {
    const opts = { expectedIssuer: 'https://ps.example' };
    for (const value of ['http://ps.example/token', 'https://ps.example/token?x=1', 'https://ps.example/token?', 'https://ps.example/token#f', 'token', 'https://u:p@ps.example/token', 42]) {
      expect(code(() => parseMetadata('person', { ...PERSON, auth_token_endpoint: value }, opts)), String(value)).toBe('invalid_metadata');
    }
  });

  it('other URLs must be https (query allowed)', () => {
    const opts = { expectedIssuer: 'https://agent.example' };
    expect(code(() => parseMetadata('agent', { ...AGENT, logo_uri: 'http://agent.example/logo.png' }, opts))).toBe('invalid_metadata');
    expect(code(() => parseMetadata('agent', { ...AGENT, jwks_uri: 'http://agent.example/jwks' }, opts))).toBe('invalid_metadata');
    expect(parseMetadata('agent', { ...AGENT, jwks_uri: 'https://agent.example/jwks?v=2' }, opts).jwks_uri).toBe('https://agent.example/jwks?v=2');
  });

  it('allowLoopbackHttp admits http on loopback hosts only (development)', () => {
    const doc = { issuer: 'http://localhost:4000', jwks_uri: 'http://localhost:4000/jwks', callback_endpoint: 'http://127.0.0.1:4000/cb' };
    expect(code(() => parseMetadata('agent', doc, { expectedIssuer: 'http://localhost:4000' }))).toBe('invalid_metadata');
    expect(parseMetadata('agent', doc, { expectedIssuer: 'http://localhost:4000', allowLoopbackHttp: true }).jwks_uri).toBe('http://localhost:4000/jwks');
    expect(
      code(() => parseMetadata('agent', { ...doc, jwks_uri: 'http://agent.example/jwks' }, { expectedIssuer: 'http://localhost:4000', allowLoopbackHttp: true })),
    ).toBe('invalid_metadata');
  });

  it('validates member types', () => {
    const opts = { expectedIssuer: RESOURCE.issuer };
    const bad: Record<string, unknown>[] = [
      { name: 7 },
      { description: ['x'] },
      { signature_window: 0 },
      { signature_window: 1.5 },
      { signature_window: '60' },
      { additional_signature_components: 'content-type' },
      { additional_signature_components: ['content type'] },
      { additional_signature_components: [''] },
      { scope_descriptions: { 'data.read': 3 } },
      { scope_descriptions: [] },
      { accept_signature_algs: 'Ed25519' },
      { access_mode: 5 },
    ];
    for (const patch of bad) expect(code(() => parseMetadata('resource', { ...RESOURCE, ...patch }, opts)), JSON.stringify(patch)).toBe('invalid_metadata');
    expect(code(() => parseMetadata('agent', { ...AGENT, localhost_callback_allowed: 'true' }, { expectedIssuer: AGENT.issuer }))).toBe('invalid_metadata');
    expect(code(() => parseMetadata('agent', 'not an object', { expectedIssuer: AGENT.issuer }))).toBe('invalid_metadata');
    expect(code(() => parseMetadata('agent', [AGENT], { expectedIssuer: AGENT.issuer }))).toBe('invalid_metadata');
  });

  it('access_mode: the five known values; an unknown value is treated as absent', () => {
    const opts = { expectedIssuer: RESOURCE.issuer };
    for (const mode of ['agent-token', 'person-token', 'session-token', 'auth-token', 'per-call']) {
      expect(parseResourceMetadata({ ...RESOURCE, access_mode: mode }, opts).access_mode).toBe(mode);
    }
    const unknown = parseResourceMetadata({ ...RESOURCE, access_mode: 'telepathy' }, opts);
    expect(unknown.access_mode).toBeUndefined();
    expect(effectiveAccessMode(unknown)).toBe('agent-token');
    expect(effectiveAccessMode(parseResourceMetadata({ issuer: RESOURCE.issuer }, opts))).toBe('agent-token');
  });

  it('maps dwk names to kinds', () => {
    expect(METADATA_DOCUMENTS.person).toBe('aauth-person.json');
    expect(metadataKindOf('aauth-access.json')).toBe('access');
    expect(metadataKindOf('eg-config')).toBeUndefined();
  });
});

describe('aauth-go metadata vectors', () => {
  const vectors = JSON.parse(readFileSync(new URL('./vectors/aauth-go/metadata.json', import.meta.url), 'utf8')) as {
    source: string;
    cases: { document: string; json: { issuer: string } & Record<string, unknown> }[];
  };

  it('names its source', () => {
    expect(vectors.source).toMatch(/aauth-dev\/aauth-go/);
  });

  for (const vector of vectors.cases) {
    const kind = metadataKindOf(vector.document) as MetadataKind;
    if (vector.document === 'aauth-person.json') {
      it('the -10 era person document (token_endpoint, no person_token_endpoint) is rejected under -11', () => {
        expect(code(() => parseMetadata(kind, vector.json, { expectedIssuer: vector.json.issuer }))).toBe('invalid_metadata');
      });
    } else {
      it(`${vector.document} parses and keeps its members`, () => {
        const parsed = parseMetadata(kind, vector.json, { expectedIssuer: vector.json.issuer });
        expect(parsed).toEqual(vector.json);
      });
    }
  }
});
