/**
 * Node's request and response behind a Hono context, when @hono/node-server serves the app (`c.env`, its
 * `HttpBindings`); `undefined` under `app.request()` and other runtimes, where callers use the fetch `Request`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';

type Env = { incoming?: { rawHeaders?: unknown }; outgoing?: { setHeader?: unknown } } | undefined;

/** The `IncomingMessage`: its `rawHeaders` (field lines as received), `url` (the request target) and socket. */
export function nodeIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as Env)?.incoming;
  return Array.isArray(incoming?.rawHeaders) ? (incoming as IncomingMessage) : undefined;
}

/** The `ServerResponse`: headers set on it are merged into whatever headers the response is written with. */
export function nodeOutgoing(c: Context): ServerResponse | undefined {
  const outgoing = (c.env as Env)?.outgoing;
  return typeof outgoing?.setHeader === 'function' ? (outgoing as ServerResponse) : undefined;
}
