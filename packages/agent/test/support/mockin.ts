/** Starts @hellocoop/mockin (a -11 Person Server mock that auto-approves) on a free port, as bench/lib/peers.mjs does. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export async function startMockin(): Promise<{ issuer: string; close: () => void }> {
  const require = createRequire(import.meta.url);
  const entry = join(dirname(require.resolve('@hellocoop/mockin/package.json')), 'src', 'server.js');
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((r) => probe.close(() => r()));
  const child = spawn(process.execPath, [entry], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const issuer = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${issuer}/.well-known/aauth-person.json`);
      if (r.ok) return { issuer, close: () => void child.kill('SIGTERM') };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`mockin did not start: ${output.slice(-500)}`);
}
