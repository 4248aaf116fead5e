/**
 * Call a protected API as an agent: one fetch answers every AAuth challenge. With `tessera dev` running:
 *   npx tsx examples/call-an-api.ts
 * The first run enrols with the dev Agent Provider and asks the person (open the printed URL, sign in as alice).
 */
import { createAgent, loadOrCreateKeyFile } from '@tessera/agent';

const agent = createAgent({
  key: await loadOrCreateKeyFile('./agent.jwk'),
  enrolWith: 'http://localhost:4101', // or agentToken: '…' from your Agent Provider
  enrolment: { name: 'Example assistant', ps: 'http://localhost:4100' },
  onInteraction: ({ fullUrl }) => console.log(`Approve at ${fullUrl}`),
  allowLoopbackHttp: true, // development identifiers (http://localhost:PORT)
});

const response = await agent.fetch('http://localhost:4102/notes');
console.log(response.status, await response.json());
