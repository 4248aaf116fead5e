/**
 * The target URI a verifier checks a signature against (RFC 9421 §2.2 `@authority`, `@target-uri`, `@path`): the
 * server's origin followed by the request target, and the header lines as received.
 */
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { headerLinesFromRaw } from '../src/http-message.js';
import { targetUri } from '../src/request-target.js';

describe('targetUri', () => {
  it('keeps a target starting with // as a path under the origin (never a network-path reference)', () => {
    expect(targetUri('https://api.example', '//evil.example/x?y=1')).toBe('https://api.example//evil.example/x?y=1');
    expect(targetUri('https://api.example', '/\\evil.example/x')).toBe('https://api.example//evil.example/x');
    expect(new URL(targetUri('https://api.example', '//evil.example/x')).host).toBe('api.example');
  });

  it('takes only the origin of the identifier, normalizes like a URL parser and drops a fragment', () => {
    expect(targetUri('https://api.example/base/', '/token')).toBe('https://api.example/token');
    expect(targetUri('http://localhost:4100', '/a/../token?x=%7e')).toBe('http://localhost:4100/token?x=%7e');
    expect(targetUri('https://api.example', '/notes#frag')).toBe('https://api.example/notes');
    expect(targetUri('https://api.example', '/notes#')).toBe('https://api.example/notes');
  });

  it('answers for each origin when origins alternate', () => {
    expect(targetUri('https://a.example', '/x')).toBe('https://a.example/x');
    expect(targetUri('https://b.example:8443', '/x')).toBe('https://b.example:8443/x');
    expect(targetUri('https://a.example', '/y')).toBe('https://a.example/y');
  });

  it('refuses a target that is not in origin-form (absolute-form, asterisk, empty) with invalid_request', () => {
    for (const target of ['http://evil.example/x', '*', '', 'evil.example/x']) {
      let caught: unknown;
      try {
        targetUri('https://api.example', target);
      } catch (error) {
        caught = error;
      }
      expect(caught, target).toBeInstanceOf(AAuthError);
      expect((caught as AAuthError).code).toBe('invalid_request');
    }
  });
});

describe('headerLinesFromRaw', () => {
  it('keeps lines in order with duplicates, and leaves out HTTP/2 pseudo-header fields', () => {
    expect(headerLinesFromRaw([':path', '/x', 'Content-Type', 'text/plain', 'Host', 'h', 'content-type', 'charset=utf-8'])).toEqual([
      ['Content-Type', 'text/plain'],
      ['Host', 'h'],
      ['content-type', 'charset=utf-8'],
    ]);
    expect(headerLinesFromRaw([])).toEqual([]);
  });
});
