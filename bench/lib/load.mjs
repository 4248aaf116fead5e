// A bounded HTTP load on loopback: fixed request, N connections, D seconds.
//
// The generator is wrk (C, epoll, one thread) when it is installed (`apt-get install wrk`), else autocannon.
// On a 2-core machine the generator shares the cores with the servers it measures: autocannon, in JavaScript, takes
// most of a core at a few thousand requests per second, so the servers compared are starved alike and every ratio is
// pulled toward 1; wrk does the same work for a fraction of the CPU. TESSERA_BENCH_LOAD=autocannon forces autocannon.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const wrkAvailable = process.env.TESSERA_BENCH_LOAD !== 'autocannon' && spawnSync('wrk', ['--version']).error === undefined;

/** Which load generator `load` uses on this machine. */
export const loadGenerator = wrkAvailable ? 'wrk' : 'autocannon';

/** Jiffies the whole machine has spent busy and in total so far (/proc/stat); undefined off Linux. */
function machineTicks() {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return { busy: total - cpu[3] - cpu[4], total };
  } catch {
    return undefined;
  }
}

/**
 * Jiffies (user + system) process `pid` has used so far: all its threads (/proc/PID/stat), or with `mainThread` its
 * main thread alone, the one running the event loop (/proc/PID/task/PID/stat: its thread id is the process id);
 * undefined off Linux.
 */
function processTicks(pid, mainThread = false) {
  try {
    const fields = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return undefined;
  }
}

/**
 * Runs `request` ({url, method, headers, body}) for `seconds` with `connections` connections and returns
 * {rps, p99_ms, ok, errors, non2xx, machine, cpu}. Only 2xx answers count as successful work.
 * On Linux, `machine` is what the whole machine did meanwhile — load generator, servers and all:
 * {busy_cores, cores, cpu_us_per_request}; when busy_cores is near cores, the machine's CPU, not one process, bounds
 * the rate. `cpu` gives, for each process of `meter` ({name: pid}), {cores, us_per_request, event_loop}: its CPU over
 * all its threads (worker threads and the libuv pool included) per successful request, and in `event_loop` the same
 * for its main thread alone (at about one core, the event loop bounds the rate).
 */
export async function load(request, { connections = 32, seconds = 10, meter = {} } = {}) {
  const before = machineTicks();
  const processesBefore = Object.fromEntries(Object.entries(meter).map(([name, pid]) => [name, processTicks(pid)]));
  const loopsBefore = Object.fromEntries(Object.entries(meter).map(([name, pid]) => [name, processTicks(pid, true)]));
  const started = performance.now();
  const result = await (wrkAvailable ? loadWithWrk(request, { connections, seconds }) : loadWithAutocannon(request, { connections, seconds }));
  const elapsed = (performance.now() - started) / 1000;
  const after = machineTicks();
  if (before === undefined || after === undefined || after.total <= before.total) return result;
  const cores = availableParallelism();
  const perRequest = (ticks) => (result.ok > 0 ? Math.round((ticks / 100) * 1e6 / result.ok) : undefined); // USER_HZ = 100
  const cpu = {};
  for (const [name, pid] of Object.entries(meter)) {
    const ticks = processTicks(pid);
    if (ticks === undefined || processesBefore[name] === undefined) continue;
    const used = ticks - processesBefore[name];
    const share = (jiffies) => ({ cores: Math.round((jiffies / 100 / elapsed) * 100) / 100, us_per_request: perRequest(jiffies) });
    const loopTicks = processTicks(pid, true);
    cpu[name] = { ...share(used), ...(loopTicks === undefined || loopsBefore[name] === undefined ? {} : { event_loop: share(loopTicks - loopsBefore[name]) }) };
  }
  return {
    ...result,
    machine: {
      busy_cores: Math.round(((after.busy - before.busy) / (after.total - before.total)) * cores * 100) / 100,
      cores,
      cpu_us_per_request: perRequest(after.busy - before.busy),
    },
    cpu,
  };
}

async function loadWithAutocannon(request, { connections, seconds }) {
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

/** A Lua string literal holding exactly `bytes` (a string is taken as UTF-8): printable ASCII as is, the rest `\ddd`. */
function lua(value) {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  let out = '"';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`;
  return `${out}"`;
}

async function loadWithWrk(request, { connections, seconds }) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-wrk-'));
  try {
    const script = [
      `wrk.method = ${lua(request.method ?? 'POST')}`,
      ...(request.body === undefined ? [] : [`wrk.body = ${lua(request.body)}`]),
      ...Object.entries(request.headers ?? {}).map(([name, value]) => `wrk.headers[${lua(name)}] = ${lua(value)}`),
      // No `response` hook: it would make wrk hand every response to Lua. Non-2xx answers come from wrk's summary.
      'function done(summary, latency, requests) io.write(string.format("TESSERA %d %d %d %.3f\\n", summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration, latency:percentile(99) / 1000)) end',
    ].join('\n');
    const file = join(dir, 'request.lua');
    writeFileSync(file, script);
    const out = await new Promise((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', file, request.url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (text += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
    });
    // Non-2xx answers: wrk's own "Non-2xx or 3xx responses" line (no 3xx is expected here).
    const line = /TESSERA (\d+) (\d+) (\d+) ([\d.]+)/.exec(out);
    if (!line) throw new Error(`unexpected wrk output: ${out}`);
    const total = Number(line[1]);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const durationS = Number(line[3]) / 1e6;
    return {
      rps: Math.round(((total - non2xx) / durationS) * 10) / 10,
      p99_ms: Math.round(Number(line[4]) * 100) / 100,
      ok: total - non2xx,
      errors: Number(line[2]),
      non2xx,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
