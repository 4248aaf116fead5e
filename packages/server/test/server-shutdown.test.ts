/**
 * Graceful shutdown waits for handlers that are still running, even when their client has gone: closing the store
 * under a running handler turned in-flight requests into 500s ("the database connection is not open").
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { bindPort } from '../src/server.js';

describe('bindPort close()', () => {
  it('waits for a running handler after its client disconnected, and still honours the grace period', async () => {
    const bound = await bindPort(0, ['127.0.0.1']);
    let release!: () => void;
    const entered = new Promise<void>((resolveEntered) => {
      bound.setHandler(async () => {
        resolveEntered();
        await new Promise<void>((r) => (release = r));
        return new Response('done');
      });
    });
    const req = request({ host: '127.0.0.1', port: bound.port, path: '/slow' });
    req.on('error', () => undefined);
    req.end();
    await entered;
    req.destroy(); // the client leaves while the handler runs

    let closed = false;
    const closing = bound.close(5_000).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(closed).toBe(false); // the handler is still running
    release();
    await closing;
    expect(closed).toBe(true);

    // A handler that never finishes is cut off at the grace period.
    const stuck = await bindPort(0, ['127.0.0.1']);
    stuck.setHandler(() => new Promise<Response>(() => undefined));
    const r2 = request({ host: '127.0.0.1', port: stuck.port, path: '/' });
    r2.on('error', () => undefined);
    r2.end();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await stuck.close(300);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
