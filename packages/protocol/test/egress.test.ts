import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { classifyIp, isLoopbackHost, parseIpAddress } from '../src/egress/ip-address.js';
import { admitUrl, isAddressAdmitted, resolveEgressPolicy } from '../src/egress/egress-policy.js';
import type { FetchLike } from '../src/egress/guarded-fetch.js';
import { createGuardedFetch, readBodyCapped } from '../src/egress/guarded-fetch.js';
import { rejection } from './support.js';

describe('classifyIp', () => {
  const cases: [string, string][] = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'reserved'],
    // IPv6
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    // IPv4-mapped, dotted and hex forms
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a00:1', 'private'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:8.8.8.8', 'public'],
    ['0:0:0:0:0:ffff:192.168.0.1', 'private'],
    // IPv4-compatible (deprecated)
    ['::10.0.0.1', 'private'],
    ['::127.0.0.2', 'loopback'],
    // NAT64 well-known prefix with embedded IPv4
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    // 6to4 with embedded IPv4
    ['2002:a00:1::1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['2002:808:808::1', 'public'],
  ];
  for (const [address, category] of cases) {
    it(`[§8.14] ${address} is ${category}`, () => {
      expect(classifyIp(address)).toBe(category);
    });
  }

  it('[§8.14] classifies every WHATWG spelling of an IPv4 address', () => {
    expect(classifyIp('2130706433')).toBe('loopback');
    expect(classifyIp('0x7f.0.0.1')).toBe('loopback');
    expect(classifyIp('0177.0.0.1')).toBe('loopback');
    expect(classifyIp('127.1')).toBe('loopback');
    expect(classifyIp('10.1')).toBe('private');
  });

  it('rejects non-addresses', () => {
    for (const text of ['example.com', '', '1.2.3.4.5', '256.0.0.1', '::ffff:1.2.3', '1:2:3:4:5:6:7:8:9', '1::2::3', 'gggg::1', '1.2.3.4::']) {
      expect(classifyIp(text)).toBe('invalid');
    }
    expect(parseIpAddress('::ffff:10.0.0.1')?.version).toBe(6);
    expect(Array.from(parseIpAddress('::ffff:10.0.0.1')!.bytes.subarray(10))).toEqual([0xff, 0xff, 10, 0, 0, 1]);
  });

  it('treats localhost names as loopback', () => {
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('api.localhost')).toBe(true);
    expect(isLoopbackHost('LOCALHOST.')).toBe(true);
    expect(isLoopbackHost('localhost.example')).toBe(false);
    expect(isLoopbackHost('[::1]')).toBe(true);
  });
});

describe('admitUrl', () => {
  const denied = (url: string, policy = {}): string | undefined => {
    const result = admitUrl(url, policy);
    return result.ok ? undefined : result.error.code;
  };

  it('[§8.14] admits https to a public host', () => {
    const result = admitUrl('https://ps.example/.well-known/aauth-person.json');
    expect(result.ok).toBe(true);
  });

  it('[§8.14] refuses non-HTTPS unless the policy allows http', () => {
    expect(denied('http://ps.example/')).toBe('egress_denied');
    expect(denied('ftp://ps.example/')).toBe('egress_denied');
    expect(denied('file:///etc/passwd')).toBe('egress_denied');
    expect(denied('http://ps.example/', { allowHttp: true })).toBeUndefined();
  });

  it('[§8.14] refuses userinfo and malformed URLs', () => {
    expect(denied('https://user:pw@ps.example/')).toBe('egress_denied');
    expect(denied('https://user@ps.example/')).toBe('egress_denied');
    expect(denied('not a url')).toBe('egress_denied');
  });

  it('[§8.14] refuses private and loopback literal addresses', () => {
    for (const url of [
      'https://127.0.0.1/',
      'https://10.0.0.1/',
      'https://[::1]/',
      'https://[::ffff:10.0.0.1]/',
      'https://[::ffff:a00:1]/',
      'https://169.254.169.254/latest/meta-data',
      'https://0x7f000001/',
      'https://2130706433/',
      'https://[fd00::1]/',
      'https://0.0.0.0/',
    ]) {
      expect(denied(url), url).toBe('egress_denied');
    }
  });

  it('[§8.14] treats localhost and *.localhost as loopback, .local as private', () => {
    expect(denied('https://localhost/')).toBe('egress_denied');
    expect(denied('https://app.localhost/')).toBe('egress_denied');
    expect(denied('https://printer.local/')).toBe('egress_denied');
    expect(denied('https://localhost/', { allowLoopback: true })).toBeUndefined();
    expect(denied('https://printer.local/', { allowPrivate: true })).toBeUndefined();
  });

  it('allowLoopback admits loopback only; link-local stays refused', () => {
    const policy = { allowLoopback: true, allowHttp: true };
    expect(denied('http://127.0.0.1:8080/', policy)).toBeUndefined();
    expect(denied('http://10.0.0.1/', policy)).toBe('egress_denied');
    expect(denied('http://169.254.169.254/', { ...policy, allowPrivate: true })).toBe('egress_denied');
  });

  it('allowedHosts admits a named host whatever its class, but not a different scheme', () => {
    expect(denied('https://internal.localhost/', { allowedHosts: ['INTERNAL.localhost'] })).toBeUndefined();
    expect(denied('http://internal.localhost/', { allowedHosts: ['internal.localhost'] })).toBe('egress_denied');
  });

  it('isAddressAdmitted follows the policy', () => {
    expect(isAddressAdmitted('8.8.8.8', {})).toBe(true);
    expect(isAddressAdmitted('10.0.0.1', {})).toBe(false);
    expect(isAddressAdmitted('10.0.0.1', { allowPrivate: true })).toBe(true);
    expect(isAddressAdmitted('not-an-ip', {})).toBe(false);
  });

  it('resolveEgressPolicy fills the defaults and rejects bad numbers', () => {
    const policy = resolveEgressPolicy({});
    expect(policy.maxResponseBytes).toBe(1024 * 1024);
    expect(policy.timeoutMs).toBe(5000);
    expect(policy.maxRedirects).toBe(3);
    expect(policy.allowHttp).toBe(false);
    expect(() => resolveEgressPolicy({ timeoutMs: -1 })).toThrow(AAuthError);
    expect(() => resolveEgressPolicy({ maxResponseBytes: 1.5 })).toThrow(AAuthError);
  });
});

interface Call {
  url: string;
  init: RequestInit | undefined;
}

function fakeFetch(handler: (url: string, init?: RequestInit) => Response | Promise<Response>): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push({ url, init });
      return handler(url, init);
    },
  };
}

function streamOf(chunks: Uint8Array[], delayMs = 0): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

describe('createGuardedFetch', () => {
  it('returns a buffered response for an admitted URL', async () => {
    const { fetch, calls } = fakeFetch(() => new Response('{"a":1}', { headers: { 'content-type': 'application/json' } }));
    const guarded = createGuardedFetch({ fetch });
    const response = await guarded('https://ps.example/x');
    expect(await response.json()).toEqual({ a: 1 });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.init?.redirect).toBe('manual');
  });

  it('[§8.14] refuses a non-HTTPS URL without calling fetch', async () => {
    const { fetch, calls } = fakeFetch(() => new Response('x'));
    const error = await rejection(createGuardedFetch({ fetch })('http://ps.example/'));
    expect(error.code).toBe('egress_denied');
    expect(calls).toHaveLength(0);
  });

  it('[§8.14] refuses a host that resolves to a private address (any of them)', async () => {
    const { fetch, calls } = fakeFetch(() => new Response('x'));
    const resolve = (host: string): Promise<string[]> => Promise.resolve(host === 'evil.example' ? ['93.184.216.34', '10.0.0.5'] : ['93.184.216.34']);
    const guarded = createGuardedFetch({ fetch, resolve });
    expect((await rejection(guarded('https://evil.example/'))).code).toBe('egress_denied');
    expect(calls).toHaveLength(0);
    await guarded('https://good.example/');
    expect(calls).toHaveLength(1);
  });

  it('[§8.14] a resolver failure or an empty answer is fetch_failed', async () => {
    const { fetch } = fakeFetch(() => new Response('x'));
    expect((await rejection(createGuardedFetch({ fetch, resolve: () => Promise.resolve([]) })('https://a.example/'))).code).toBe('fetch_failed');
    const throwing = (): Promise<string[]> => Promise.reject(new Error('ENOTFOUND'));
    expect((await rejection(createGuardedFetch({ fetch, resolve: throwing })('https://a.example/'))).code).toBe('fetch_failed');
  });

  it('[§8.14] follows a same-host redirect, re-admitting the hop', async () => {
    const { fetch, calls } = fakeFetch((url) =>
      url.endsWith('/old') ? new Response(null, { status: 302, headers: { location: '/new' } }) : new Response('ok'),
    );
    const response = await createGuardedFetch({ fetch })('https://ps.example/old');
    expect(await response.text()).toBe('ok');
    expect(calls.map((c) => c.url)).toEqual(['https://ps.example/old', 'https://ps.example/new']);
  });

  it('[§8.14] refuses a cross-host redirect', async () => {
    const { fetch, calls } = fakeFetch(() => new Response(null, { status: 301, headers: { location: 'https://other.example/x' } }));
    const error = await rejection(createGuardedFetch({ fetch })('https://ps.example/old'));
    expect(error.code).toBe('egress_denied');
    expect(calls).toHaveLength(1);
  });

  it('[§8.14] refuses a same-host redirect that downgrades to http', async () => {
    const { fetch } = fakeFetch(() => new Response(null, { status: 307, headers: { location: 'http://ps.example/x' } }));
    expect((await rejection(createGuardedFetch({ fetch })('https://ps.example/old'))).code).toBe('egress_denied');
  });

  it('[§8.14] stops after maxRedirects', async () => {
    const { fetch, calls } = fakeFetch(() => new Response(null, { status: 302, headers: { location: '/loop' } }));
    const error = await rejection(createGuardedFetch({ fetch, policy: { maxRedirects: 2 } })('https://ps.example/loop'));
    expect(error.code).toBe('fetch_failed');
    expect(calls).toHaveLength(3);
  });

  it('[§8.14] refuses an oversized body (declared length)', async () => {
    const { fetch } = fakeFetch(() => new Response('x'.repeat(100), { headers: { 'content-length': '100' } }));
    const error = await rejection(createGuardedFetch({ fetch, policy: { maxResponseBytes: 10 } })('https://ps.example/'));
    expect(error.code).toBe('fetch_failed');
    expect(error.detail).toMatch(/larger/);
  });

  it('[§8.14] refuses an oversized body while streaming (no length)', async () => {
    const chunk = new Uint8Array(400);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(chunk);
      },
    });
    const { fetch } = fakeFetch(() => new Response(body));
    const error = await rejection(createGuardedFetch({ fetch, policy: { maxResponseBytes: 1000 } })('https://ps.example/'));
    expect(error.code).toBe('fetch_failed');
    expect(pulled).toBeLessThan(10);
  });

  it('[§8.14] times out a slow response (headers never come)', async () => {
    const { fetch } = fakeFetch((_url, init) => new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted')))));
    const started = Date.now();
    const error = await rejection(createGuardedFetch({ fetch, policy: { timeoutMs: 50 } })('https://ps.example/'));
    expect(error.code).toBe('fetch_failed');
    expect(error.detail).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('[§8.14] times out a body that trickles in, even if fetch ignores the signal', async () => {
    const { fetch } = fakeFetch(() => new Response(streamOf([new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)], 200)));
    const error = await rejection(createGuardedFetch({ fetch, policy: { timeoutMs: 100 } })('https://ps.example/'));
    expect(error.code).toBe('fetch_failed');
  });

  it('a non-2xx final status is fetch_failed', async () => {
    const { fetch } = fakeFetch(() => new Response('nope', { status: 404 }));
    const error = await rejection(createGuardedFetch({ fetch })('https://ps.example/'));
    expect(error.code).toBe('fetch_failed');
    expect(error.detail).toMatch(/404/);
  });

  it('a network error (TypeError) becomes fetch_failed, never an uncaught exception', async () => {
    const { fetch } = fakeFetch(() => {
      throw new TypeError('fetch failed');
    });
    const error = await rejection(createGuardedFetch({ fetch })('https://ps.example/'));
    expect(error.code).toBe('fetch_failed');
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('honours the caller abort signal', async () => {
    const { fetch } = fakeFetch((_url, init) => new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('x')))));
    const controller = new AbortController();
    const pending = createGuardedFetch({ fetch })('https://ps.example/', { signal: controller.signal });
    controller.abort();
    expect((await rejection(pending)).code).toBe('fetch_failed');
  });
});

describe('readBodyCapped', () => {
  it('concatenates chunks up to the cap', async () => {
    const response = new Response(streamOf([new Uint8Array([1, 2]), new Uint8Array([3])]));
    expect(Array.from(await readBodyCapped(response, 3))).toEqual([1, 2, 3]);
  });
  it('refuses one byte over the cap', async () => {
    const response = new Response(streamOf([new Uint8Array([1, 2]), new Uint8Array([3, 4])]));
    expect((await rejection(readBodyCapped(response, 3))).code).toBe('fetch_failed');
  });
});
