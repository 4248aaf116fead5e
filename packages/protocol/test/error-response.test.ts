import { parseDictionary } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_ALGORITHMS } from '../src/crypto/types.js';
import { toErrorResponse, safeDetail } from '../src/error-response.js';
import { AAuthError, type ErrorCode } from '../src/errors.js';
import { parseAcceptSignatureAlg, parseSignatureError } from '../src/headers/signature-error.js';

const JWT =
  'eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiYWEtYWdlbnQrand0Iiwia2lkIjoiYXAta2V5LTEifQ.eyJpc3MiOiJodHRwczovL2FnZW50LmV4YW1wbGUifQ.IzvM6zL-iYyNsHLwb2gv7dh19bgcZS9ZPj5nib1934c';

const SIGNATURE_CODES: ErrorCode[] = [
  'invalid_input',
  'invalid_signature',
  'unsupported_scheme',
  'unsupported_algorithm',
  'invalid_key',
  'unknown_key',
  'invalid_jwt',
  'expired_jwt',
  'issuer_missing',
  'issuer_mismatch',
];

const ALL_CODES: ErrorCode[] = [
  ...SIGNATURE_CODES,
  'invalid_request',
  'invalid_agent_token',
  'expired_agent_token',
  'invalid_resource_token',
  'expired_resource_token',
  'invalid_person_token',
  'unknown_person_token',
  'invalid_auth_token',
  'expired_auth_token',
  'invalid_scope',
  'invalid_account',
  'user_unreachable',
  'server_error',
  'temporarily_unavailable',
  'denied',
  'abandoned',
  'expired',
  'invalid_code',
  'slow_down',
  'mission_not_found',
  'mission_terminated',
  'interaction_unavailable',
  'invalid_token',
  'invalid_identifier',
  'invalid_metadata',
  'invalid_header',
  'egress_denied',
  'fetch_failed',
  'invalid_argument',
  'invalid_mission',
];

describe('toErrorResponse', () => {
  it('[§8.5] a signature failure is a 401 with Signature-Error and a problem+json body', () => {
    const r = toErrorResponse(new AAuthError('invalid_signature', { detail: 'created outside the window' }));
    expect(r.status).toBe(401);
    expect(r.headers['Signature-Error']).toBe('error=invalid_signature');
    expect(r.headers['Content-Type']).toBe('application/problem+json');
    expect(r.body).toEqual({ type: 'urn:ietf:params:sig-error:invalid_signature', error: 'invalid_signature', detail: 'created outside the window' });
  });

  it('every Signature-Error code maps to 401 with a parseable Signature-Error of the same code', () => {
    for (const code of SIGNATURE_CODES) {
      const r = toErrorResponse(new AAuthError(code));
      expect(r.status, code).toBe(401);
      expect(parseSignatureError(r.headers['Signature-Error']!).error).toBe(code);
    }
  });

  it('[§8.4] invalid_input carries required_input', () => {
    const r = toErrorResponse(new AAuthError('invalid_input', { requiredInput: ['@method', '@authority', '@path', 'signature-key'] }));
    expect(parseSignatureError(r.headers['Signature-Error']!)).toEqual({
      error: 'invalid_input',
      requiredInput: ['@method', '@authority', '@path', 'signature-key'],
    });
  });

  it('[§8.6] unsupported_scheme adds Accept-Signature-Scheme: jwt', () => {
    const r = toErrorResponse(new AAuthError('unsupported_scheme'));
    expect(r.status).toBe(401);
    expect(r.headers['Accept-Signature-Scheme']).toBe('jwt');
    expect(r.headers['Accept-Signature-Alg']).toBeUndefined();
    expect(toErrorResponse(new AAuthError('unsupported_scheme'), { acceptSchemes: ['jwt', 'jwks_uri'] }).headers['Accept-Signature-Scheme']).toBe(
      'jwt, jwks_uri',
    );
  });

  it('unsupported_algorithm adds Accept-Signature-Alg (option, then the error, then the implemented set)', () => {
    expect(toErrorResponse(new AAuthError('unsupported_algorithm'), { acceptAlgorithms: ['Ed25519'] }).headers['Accept-Signature-Alg']).toBe('Ed25519');
    expect(toErrorResponse(new AAuthError('unsupported_algorithm', { acceptAlgorithms: ['ES256'] })).headers['Accept-Signature-Alg']).toBe('ES256');
    expect(parseAcceptSignatureAlg(toErrorResponse(new AAuthError('unsupported_algorithm')).headers['Accept-Signature-Alg']!)).toEqual([
      ...SUPPORTED_ALGORITHMS,
    ]);
  });

  it('[§8.11] a 403 never carries Signature-Error or Accept-Signature-*', () => {
    for (const code of ALL_CODES) {
      for (const duringVerification of [false, true]) {
        const r = toErrorResponse(new AAuthError(code, { acceptAlgorithms: ['Ed25519'] }), { duringVerification });
        if (r.status === 403) {
          expect(Object.keys(r.headers).map((h) => h.toLowerCase()), code).toEqual(['content-type']);
        }
        if (r.status !== 401) expect(r.headers['Signature-Error'], code).toBeUndefined();
      }
    }
  });

  it('[§8.60] maps endpoint and polling errors to problem+json with the tables’ statuses', () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      invalid_request: 400,
      invalid_agent_token: 400,
      expired_agent_token: 400,
      invalid_resource_token: 400,
      expired_resource_token: 400,
      unknown_person_token: 400,
      invalid_scope: 400,
      invalid_account: 400,
      user_unreachable: 403,
      denied: 403,
      abandoned: 403,
      mission_terminated: 403,
      mission_not_found: 404,
      expired: 408,
      invalid_code: 410,
      interaction_unavailable: 424,
      slow_down: 429,
      server_error: 500,
      temporarily_unavailable: 503,
    };
    for (const [code, status] of Object.entries(expected)) {
      const r = toErrorResponse(new AAuthError(code as ErrorCode));
      expect(r.status, code).toBe(status);
      expect(r.body.error).toBe(code);
      expect(r.body.type).toBeUndefined();
      expect(r.headers).toEqual({ 'Content-Type': 'application/problem+json' });
    }
  });

  it('maps local codes to wire codes', () => {
    expect(toErrorResponse(new AAuthError('invalid_argument', { detail: 'bad base64url' }))).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', detail: 'bad base64url' },
    });
    expect(toErrorResponse(new AAuthError('invalid_identifier')).body.error).toBe('invalid_request');
    expect(toErrorResponse(new AAuthError('invalid_mission')).body.error).toBe('invalid_request');
    expect(toErrorResponse(new AAuthError('fetch_failed'))).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
    // Every code yields a wire code.
    for (const code of ALL_CODES) {
      const r = toErrorResponse(new AAuthError(code));
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.body.error).toMatch(/^[a-z_]+$/);
    }
  });

  it('during verification every failure is a 401 Signature-Error (AAuth -11 §Verification)', () => {
    const cases: [ErrorCode, string][] = [
      ['invalid_request', 'invalid_request'],
      ['invalid_header', 'invalid_request'],
      ['invalid_token', 'invalid_jwt'],
      ['invalid_person_token', 'invalid_jwt'],
      ['expired_auth_token', 'expired_jwt'],
      ['egress_denied', 'invalid_key'],
      ['fetch_failed', 'unknown_key'],
      ['invalid_metadata', 'invalid_key'],
    ];
    for (const [code, wire] of cases) {
      const r = toErrorResponse(new AAuthError(code), { duringVerification: true });
      expect(r.status, code).toBe(401);
      expect(r.headers['Signature-Error']).toBe(`error=${wire}`);
    }
    // Outside verification invalid_request is the endpoint 400.
    expect(toErrorResponse(new AAuthError('invalid_request')).status).toBe(400);
  });

  it('never puts a whole token in detail, and keeps private details private', () => {
    const r = toErrorResponse(new AAuthError('invalid_jwt', { detail: `bad token ${JWT} presented` }));
    expect(r.body.detail).toBeDefined();
    expect(r.body.detail).not.toContain(JWT);
    expect(r.body.detail).not.toContain(JWT.split('.')[1]);
    expect(toErrorResponse(new AAuthError('fetch_failed', { detail: 'connect 10.0.0.7:443 refused' })).body.detail).toBeUndefined();
    expect(toErrorResponse(new AAuthError('egress_denied', { detail: '169.254.169.254' }), { duringVerification: true }).body.detail).toBeUndefined();
    // §8.56: "not found" and "not owned" must be identical, so no detail can tell them apart.
    expect(toErrorResponse(new AAuthError('mission_not_found', { detail: 'not owned' })).body).toEqual({ error: 'mission_not_found' });
    expect(safeDetail('x'.repeat(1000)).length).toBeLessThanOrEqual(300);
    expect(safeDetail('line\nbreak\u0000')).toBe('line break ');
  });

  it('Signature-Error headers always parse as SF Dictionaries', () => {
    for (const code of SIGNATURE_CODES) {
      expect(() => parseDictionary(toErrorResponse(new AAuthError(code)).headers['Signature-Error']!)).not.toThrow();
    }
  });
});
