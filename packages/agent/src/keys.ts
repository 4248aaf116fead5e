/**
 * The agent's key. A key is a private JWK (imported with WebCrypto) or any `Signer` (`{alg, publicJwk, sign(bytes)}`),
 * so a key can live in a KMS, an HSM or another process: the SDK only ever calls `sign(bytes)`.
 * Reading and writing JWK files is in `key-files.ts` (Node only).
 */
import { createSigner, generateKeyPair, jwkThumbprint, type PrivateJwk, type Signer } from '@tessera/protocol';

/** What `createAgent({ key })` takes. */
export type AgentKey = PrivateJwk | Signer;

/** Algorithms the SDK generates: Ed25519 (every verifier MUST support it, SK-08) by default, or ES256. */
export type AgentKeyAlgorithm = 'Ed25519' | 'ES256';

/** Generates a fresh agent key (private JWK with `alg` and `kid` = RFC 7638 thumbprint). */
export function generateAgentKey(alg: AgentKeyAlgorithm = 'Ed25519', kid?: string): Promise<PrivateJwk> {
  return generateKeyPair(alg, kid);
}

/** True for a `Signer` (has `sign` and `publicJwk`), false for a JWK. */
export function isSigner(key: AgentKey): key is Signer {
  return typeof (key as Partial<Signer>).sign === 'function' && typeof (key as Partial<Signer>).publicJwk === 'object';
}

/** The signer for a key: a `Signer` as is, a private JWK imported. */
export async function toSigner(key: AgentKey): Promise<Signer> {
  return isSigner(key) ? key : createSigner(key);
}

/** RFC 7638 thumbprint of the key's public half: what `agent_jkt` and `cnf` name. */
export function keyThumbprint(signer: Signer): Promise<string> {
  return jwkThumbprint(signer.publicJwk);
}
