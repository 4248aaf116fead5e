/**
 * The server logger: JSON lines with secrets redacted wherever they appear.
 */
import { Writable } from 'node:stream';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { accessLog, createLogger } from '../src/logging.js';

function capture(level: 'info' | 'error' = 'info') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { lines, log: createLogger({ level, destination }) };
}

describe('createLogger', () => {
  it('redacts authorization, signature headers, cookies, tokens, passwords and private keys', () => {
    const { lines, log } = capture();
    log.info(
      {
        req: { headers: { authorization: 'Bearer SECRET-1', signature: 'sig=:SECRET-2:', 'signature-key': 'sig=jwt;jwt="SECRET-3"', 'signature-input': 'SECRET-4', cookie: 'SECRET-5', host: 'ps.example' } },
        res: { headers: { 'set-cookie': 'SECRET-6' } },
        body: { person_token: 'SECRET-7', auth_token: 'SECRET-8', resource: 'https://notes.example' },
        password: 'SECRET-9',
        key: { private_jwk: 'SECRET-10', kid: 'ps-1' },
        tokens: ['SECRET-11'],
      },
      'request',
    );
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).not.toMatch(/SECRET-/);
    const entry = JSON.parse(line) as { req: { headers: Record<string, string> }; body: Record<string, string>; key: Record<string, string> };
    expect(entry.req.headers['host']).toBe('ps.example');
    expect(entry.req.headers['authorization']).toBe('[redacted]');
    expect(entry.body['resource']).toBe('https://notes.example');
    expect(entry.key['kid']).toBe('ps-1');
  });
});

describe('accessLog', () => {
  function app(level: 'info' | 'error') {
    const { lines, log } = capture(level);
    const a = new Hono();
    a.use('*', accessLog(log, 'ps'));
    a.get('/ok', (c) => c.text('ok'));
    a.get('/fails', (c) => c.text('no', 500));
    return { a, lines };
  }

  it('one line per request at info (method, path without query, status); only failures above info', async () => {
    const info = app('info');
    await info.a.request('http://ps.example/ok?code=SECRET');
    await info.a.request('http://ps.example/fails');
    expect(info.lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { host: 'ps', method: 'GET', path: '/ok', status: 200, msg: 'request' },
      { host: 'ps', method: 'GET', path: '/fails', status: 500, msg: 'request failed' },
    ]);
    expect(info.lines.join('')).not.toContain('SECRET');
    const quiet = app('error');
    await quiet.a.request('http://ps.example/ok');
    await quiet.a.request('http://ps.example/fails');
    expect(quiet.lines.map((l) => (JSON.parse(l) as { path: string }).path)).toEqual(['/fails']);
  });
});
