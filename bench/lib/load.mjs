// A bounded HTTP load on loopback with autocannon: fixed request, N connections, D seconds.
import autocannon from 'autocannon';

/**
 * Runs `request` ({url, method, headers, body}) for `seconds` with `connections` connections and returns
 * {rps, p99_ms, ok, errors, non2xx}. Only 2xx answers count as successful work.
 */
export async function load(request, { connections = 32, seconds = 10 } = {}) {
  const result = await autocannon({
    url: request.url,
    method: request.method ?? 'POST',
    headers: request.headers,
    body: request.body,
    connections,
    duration: seconds,
    pipelining: 1,
  });
  const total = result.requests.total;
  const non2xx = result.non2xx;
  return {
    rps: Math.round(((total - non2xx) / result.duration) * 10) / 10,
    p99_ms: result.latency.p99,
    ok: total - non2xx,
    errors: result.errors + result.timeouts,
    non2xx,
  };
}
