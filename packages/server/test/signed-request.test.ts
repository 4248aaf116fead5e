/**
 * What the server's endpoints verify signatures against (`requestMessage`): the target URI under the server's own
 * identifier and the header lines as received (from Node's `rawHeaders` when served by @hono/node-server).
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requestMessage } from '../src/http/signed-request.js';

function app(issuer: string): Hono {
  const a = new Hono();
  a.all('*', async (c) => {
    const read = await requestMessage(c, issuer);
    if ('tooLarge' in read) return c.json({ tooLarge: true }, 413);
    return c.json({ url: read.message.url, headers: read.message.headers, body: read.body === undefined ? null : new TextDecoder().decode(read.body) });
  });
  return a;
}

describe('requestMessage', () => {
  it("served by Node: the request target under the server's identifier, never another authority; header lines as received", async () => {
    const incoming = { url: '//evil.example/token?x=1', rawHeaders: ['Host', '127.0.0.1:4100', 'Content-Type', 'application/json', 'content-type', 'charset=utf-8'] };
    const response = await app('https://ps.example').fetch(new Request('http://127.0.0.1:4100//evil.example/token?x=1', { method: 'POST', body: '{}' }), { incoming });
    expect(await response.json()).toEqual({
      url: 'https://ps.example//evil.example/token?x=1',
      headers: [
        ['Host', '127.0.0.1:4100'],
        ['Content-Type', 'application/json'],
        ['content-type', 'charset=utf-8'],
      ],
      body: '{}',
    });
  });

  it('without Node (app.request): the fetch Request, its path under the identifier', async () => {
    const response = await app('https://ps.example').request('http://127.0.0.1:4100//evil.example/token', { headers: { 'x-a': '1' } });
    const json = (await response.json()) as { url: string; headers: [string, string][] };
    expect(json.url).toBe('https://ps.example//evil.example/token');
    expect(json.headers).toContainEqual(['x-a', '1']);
  });

  it('a body larger than the limit is refused before it is read', async () => {
    const response = await app('https://ps.example').request('http://127.0.0.1:4100/token', { method: 'POST', headers: { 'content-length': String(65 * 1024) }, body: 'x' });
    expect(response.status).toBe(413);
  });
});
