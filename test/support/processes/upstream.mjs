#!/usr/bin/env node
/**
 * A plain upstream that knows nothing of AAuth, run as its own process behind `tessera gateway` in
 * test/e2e/processes.test.ts. Listens on 127.0.0.1 (port 0 unless given as the first argument) and prints one line,
 * `upstream listening on http://127.0.0.1:PORT`.
 *
 * - `GET …/events`: a Server-Sent Events stream; sends `event: first` at once, then holds the stream open until
 *   `POST /__control/finish` (or 20 s), then sends `event: last` and ends. A test that reads `first` through the
 *   gateway before it asks for the end proves the stream was not buffered.
 * - `GET /__control/requests`: every request received so far (method, path, headers), control routes excepted.
 * - anything else: 200 JSON echo `{method, url, headers, rawHeaderNames, body}` of what arrived.
 *
 * The control routes are for the test, which calls them directly (not through the gateway). SIGTERM / SIGINT, or
 * the end of standard input (the parent went away), close the server and exit.
 */
import { createServer } from 'node:http';
import { clearTimeout, setTimeout } from 'node:timers';

const SSE_MAX_MS = 20_000;

function main() {
  const port = Number(process.argv[2] ?? '0');
  /** @type {{ method: string, url: string, headers: Record<string, string | string[] | undefined> }[]} */
  const received = [];
  /** @type {Set<() => void>} */
  const openStreams = new Set();

  const json = (res, status, value) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0];
    if (path === '/__control/requests') return json(res, 200, { requests: received });
    if (path === '/__control/finish' && req.method === 'POST') {
      const count = openStreams.size;
      for (const finish of [...openStreams]) finish();
      return json(res, 200, { finished: count });
    }
    received.push({ method: req.method ?? 'GET', url, headers: req.headers });

    if (path.endsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(`event: first\ndata: ${JSON.stringify({ agent: req.headers['x-aauth-agent'] ?? null })}\n\n`);
      let timer;
      const finish = () => {
        clearTimeout(timer);
        if (!openStreams.delete(finish)) return;
        res.end('event: last\ndata: bye\n\n');
      };
      timer = setTimeout(finish, SSE_MAX_MS);
      openStreams.add(finish);
      res.on('close', () => {
        clearTimeout(timer);
        openStreams.delete(finish);
      });
      return undefined;
    }

    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const rawHeaderNames = req.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
      json(res, 200, { method: req.method, url, headers: req.headers, rawHeaderNames, body: Buffer.concat(chunks).toString('utf8') });
    });
    return undefined;
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const finish of [...openStreams]) finish();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();

  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`upstream listening on http://127.0.0.1:${server.address().port}\n`);
  });
}

main();
