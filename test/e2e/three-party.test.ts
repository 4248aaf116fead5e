/**
 * End to end, over real sockets: an agent built from @tessera/protocol, the demo resource and the Person Server of
 * `tessera dev`, and a person approving on the real consent page in headless Chromium (Debian's chromium, driven by
 * playwright-core). Three-party flow (digest §6 C + D): agent token → 401 person-token → person token (202, the person
 * approves) → 401 auth-token with a resource token → auth token (202, the person approves) → 200.
 * A screenshot of the consent page is kept in test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSigner,
  generateKeyPair,
  mintAgentToken,
  parseAAuthRequirement,
  publicJwkOf,
  signAAuthRequest,
  type Signer,
} from '@tessera/protocol';
import { startDev, type DevServer } from '../../packages/server/src/dev.js';
import { testAgentProvider } from '../support/agent-provider.js';

const now = () => Math.floor(Date.now() / 1000);
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);

/** The agent: signs every request with whichever token it currently presents. */
class TestAgent {
  constructor(
    readonly signer: Signer,
    public token: string,
  ) {}

  async fetch(url: string, init: { method?: string; json?: unknown; token?: string } = {}): Promise<Response> {
    const method = init.method ?? (init.json === undefined ? 'GET' : 'POST');
    const headers: Record<string, string> = {};
    let body: Uint8Array | undefined;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = new TextEncoder().encode(JSON.stringify(init.json));
    }
    const signed = await signAAuthRequest({ method, url, headers, ...(body ? { body } : {}) }, { signer: this.signer, token: init.token ?? this.token, now });
    return fetch(url, { method, headers: { ...headers, ...signed.headers }, ...(body ? { body: Buffer.from(body) } : {}) });
  }

  /** Polls a pending URL (signed GETs with the agent token) until a terminal answer, honouring Retry-After. */
  async poll(location: string, agentToken: string, onPending?: () => Promise<void>): Promise<Response> {
    for (let i = 0; i < 60; i++) {
      const r = await this.fetch(location, { token: agentToken });
      if (r.status !== 202) return r;
      await r.body?.cancel();
      if (onPending && i === 0) await onPending();
      await new Promise((res) => setTimeout(res, 1000));
    }
    throw new Error('pending request never finished');
  }
}

async function approveInBrowser(page: Page, dev: DevServer, url: string, code: string, screenshot?: string): Promise<void> {
  await page.goto(`${url}?code=${encodeURIComponent(code)}`);
  if (page.url().includes('/login')) {
    await page.getByLabel(/user ?name/i).fill(dev.username);
    await page.getByLabel(/password/i).fill(dev.password);
    await page.getByRole('button', { name: /sign in|log in/i }).click();
    await page.waitForLoadState('load');
  }
  await page.getByRole('button', { name: /approve once/i }).waitFor();
  if (screenshot) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL(screenshot, ARTIFACTS).pathname, fullPage: true });
  }
  await page.getByRole('button', { name: /approve once/i }).click();
  await page.waitForLoadState('load');
}

describe('three-party flow through tessera dev, approved in headless Chromium', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let browser: Browser;

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {} });
    ap = await testAgentProvider();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await ap?.close();
    await dev?.close();
  });

  it('agent token → person token → resource token → auth token → 200, with the person approving twice', async () => {
    const key = await generateKeyPair('Ed25519', 'agent-e2e');
    const signer = await createSigner(key);
    const agentToken = await mintAgentToken(
      ap.signer,
      { iss: ap.issuer, sub: 'aauth:e2e-assistant@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps },
      { now, ttl: 3600 },
    );
    const agent = new TestAgent(signer, agentToken);
    const notes = `${dev.issuers.resource}/notes`;
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });

    // 1. The resource wants to know the person: 401 requirement=person-token (§8.23).
    const first = await agent.fetch(notes);
    expect(first.status).toBe(401);
    expect(parseAAuthRequirement(first.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'person-token' });

    // 2. Person token from the PS: the first issuance asks the person (202 interaction).
    const metadata = (await (await fetch(`${dev.issuers.ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
    expect(metadata['issuer']).toBe(dev.issuers.ps);
    const personAsk = await agent.fetch(metadata['person_token_endpoint']!, { json: { resource: dev.issuers.resource } });
    expect(personAsk.status).toBe(202);
    expect(personAsk.headers.get('cache-control')).toContain('no-store');
    const interaction = parseAAuthRequirement(personAsk.headers.get('aauth-requirement')!, { allowLoopbackHttp: true }) as { requirement: string; url: string; code: string };
    expect(interaction.requirement).toBe('interaction');
    const personDone = await agent.poll(new URL(personAsk.headers.get('location')!, dev.issuers.ps).href, agentToken, () =>
      approveInBrowser(page, dev, interaction.url, interaction.code, 'consent-person-token.png'),
    );
    expect(personDone.status).toBe(200);
    const { person_token: personToken } = (await personDone.json()) as { person_token: string };

    // 3. With the person token the resource challenges for an auth token, with a resource token for this PS.
    agent.token = personToken;
    const challenge = await agent.fetch(notes);
    expect(challenge.status).toBe(401);
    const requirement = parseAAuthRequirement(challenge.headers.get('aauth-requirement')!) as { requirement: string; resourceToken?: string; 'resource-token'?: string };
    expect(requirement.requirement).toBe('auth-token');
    const resourceToken = requirement.resourceToken ?? requirement['resource-token'];
    expect(typeof resourceToken).toBe('string');

    // 4. Auth token from the PS (signed with the agent token); the person approves on the consent page.
    const authAsk = await agent.fetch(metadata['auth_token_endpoint']!, { json: { resource_token: resourceToken, justification: 'Summarize my <b>notes</b>' }, token: agentToken });
    expect(authAsk.status).toBe(202);
    const authInteraction = parseAAuthRequirement(authAsk.headers.get('aauth-requirement')!, { allowLoopbackHttp: true }) as { url: string; code: string };
    const authDone = await agent.poll(new URL(authAsk.headers.get('location')!, dev.issuers.ps).href, agentToken, () =>
      approveInBrowser(page, dev, authInteraction.url, authInteraction.code, 'consent-auth-token.png'),
    );
    expect(authDone.status).toBe(200);
    const { auth_token: authToken } = (await authDone.json()) as { auth_token: string };

    // 5. The resource accepts the auth token.
    agent.token = authToken;
    const ok = await agent.fetch(notes);
    expect(ok.status).toBe(200);
    await page.close();
  }, 120_000);
});
