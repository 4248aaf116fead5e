/**
 * `startDev`: the development servers on any free ports, with a seeded person, an admin token and the demo resource.
 */
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../src/auth/people.js';
import { startDev } from '../src/dev.js';

describe('startDev', () => {
  it('serves the PS, AP and demo resource under http://localhost identifiers, seeds alice, prints the next step', async () => {
    const lines: string[] = [];
    const dev = await startDev({
      temporary: true,
      ports: { ps: 0, ap: 0, resource: 0 },
      print: (line) => lines.push(line),
      env: { TESSERA_DEV_PASSWORD: 'correct horse battery' },
      log: pino({ level: 'silent' }),
    });
    try {
      const { ps, ap, resource } = dev.issuers;
      for (const issuer of [ps, ap, resource]) expect(issuer).toMatch(/^http:\/\/localhost:\d+$/);
      expect(new Set([ps, ap, resource]).size).toBe(3);

      const person = (await (await fetch(`${ps}/.well-known/aauth-person.json`)).json()) as Record<string, unknown>;
      expect(person['issuer']).toBe(ps);
      const agent = (await (await fetch(`${ap}/.well-known/aauth-agent.json`)).json()) as Record<string, unknown>;
      expect(agent['issuer']).toBe(ap);
      const notes = await fetch(`${resource}/notes`);
      expect(notes.status).toBe(401);
      expect(notes.headers.get('aauth-requirement')).toBe('requirement=agent-token');

      // The PS resolves keys over loopback in development: the demo resource's JWKS is reachable through ctx.resolveKey.
      const resourceJwks = (await (await fetch(`${resource}/jwks.json`)).json()) as { keys: { kid: string }[] };
      const key = await dev.running.server.ctx.resolveKey({ iss: resource, dwk: 'aauth-resource.json', kid: resourceJwks.keys[0]!.kid });
      expect(key.alg).toBe('Ed25519');

      expect(dev.password).toBe('correct horse battery');
      expect((await verifyPassword(dev.running.server.ctx, 'alice', 'correct horse battery')).ok).toBe(true);
      const admin = await fetch(`${ps}/admin/agents`, { headers: { authorization: `Bearer ${dev.adminToken}` } });
      expect(admin.status).toBe(200);

      const text = lines.join('\n');
      expect(text).toContain(`curl ${ps}/.well-known/aauth-person.json`);
      expect(text).toContain(dev.adminToken);
      expect(text).not.toContain('correct horse battery'); // a password from the environment is not echoed
    } finally {
      await dev.close();
    }
    expect(existsSync(dev.dataDir)).toBe(false);
  });

  it('prints a random password and resets it on restart with the same data directory', async () => {
    const lines: string[] = [];
    const first = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: (l) => lines.push(l), env: {}, log: pino({ level: 'silent' }) });
    try {
      expect(first.password.length).toBeGreaterThanOrEqual(16);
      expect(lines.join('\n')).toContain(`as alice / ${first.password}`);
      expect(lines.join('\n')).toContain(`TESSERA_TOKEN=${first.approverToken}`);
      expect((await verifyPassword(first.running.server.ctx, 'alice', first.password)).ok).toBe(true);
    } finally {
      await first.running.close(); // keep the directory
    }
    const printed: string[] = [];
    const second = await startDev({ dataDir: first.dataDir, ports: { ps: 0, ap: 0, resource: 0 }, print: (l) => printed.push(l), json: true, env: {}, log: pino({ level: 'silent' }) });
    try {
      expect(second.password).not.toBe(first.password);
      // --json: one line a script can read, with everything the banner shows.
      expect(printed).toHaveLength(1);
      expect(JSON.parse(printed[0]!)).toEqual({
        ...second.issuers,
        username: 'alice',
        password: second.password,
        adminToken: second.adminToken,
        approverToken: second.approverToken,
        dataDir: second.dataDir,
      });
      // The approver token works on the approver API; the previous run's was revoked.
      const ps = second.issuers.ps;
      expect((await fetch(`${ps}/api/pending`, { headers: { authorization: `Bearer ${second.approverToken}` } })).status).toBe(200);
      expect((await fetch(`${ps}/api/pending`, { headers: { authorization: `Bearer ${first.approverToken}` } })).status).toBe(401);
      expect((await verifyPassword(second.running.server.ctx, 'alice', second.password)).ok).toBe(true);
      expect((await verifyPassword(second.running.server.ctx, 'alice', first.password)).ok).toBe(false);
    } finally {
      await second.close();
      await first.close(); // removes the temporary directory
    }
  });

  it('a port in use is a clear error, and nothing stays bound', async () => {
    const first = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => undefined, env: {}, log: pino({ level: 'silent' }) });
    try {
      const busy = Number(new URL(first.issuers.ps).port);
      await expect(startDev({ temporary: true, ports: { ps: 0, ap: busy, resource: 0 }, print: () => undefined, env: {}, log: pino({ level: 'silent' }) })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await first.close();
    }
  });
});
