/**
 * Agent identifiers this Agent Provider hands out (AAuth -11 §Agent Identifiers; digest §4 "Agent id"):
 * `aauth:{local}@{domain}`, where `domain` is the AP's host. The spec allows `[a-z0-9._+-]{1,255}` in `local`;
 * Tessera narrows what it assigns to `[a-z0-9._-]{1,64}` and keeps `+` for sub-agents (`parent+suffix`, one level
 * only, §8.65). Every identifier is checked with the protocol's `parseAgentIdentifier` before use.
 */
import { AAuthError, parseAgentIdentifier, parseServerIdentifier, type AgentIdentifier } from '@tessera/protocol';

/** What Tessera accepts for a local part and for a sub-agent suffix: lowercase, digits, `.`, `_`, `-`; 1–64. */
const LOCAL_PART = /^[a-z0-9._-]{1,64}$/;

/** Lowercase base32 alphabet (RFC 4648 §6, lowercased): every character is valid in a local part. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** Random local parts: 12 characters, 60 bits. */
const RANDOM_LOCAL_LENGTH = 12;

export function isLocalPart(value: unknown): value is string {
  return typeof value === 'string' && LOCAL_PART.test(value);
}

/** A random local part from the CSPRNG (assigned when the agent asks for none). */
export function randomLocalPart(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(RANDOM_LOCAL_LENGTH));
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

/**
 * The `domain` of the agents of the AP identified by `issuer`: its host. In development the AP may be
 * `http://localhost:PORT` or `http://127.0.0.1:PORT`; an agent identifier's domain is a host name without a port
 * (and not an IP literal), so both map to `localhost`. Two development APs on one machine therefore share the domain;
 * their agents stay distinct because the identifier is always read together with the agent token's `iss`.
 */
export function agentDomain(issuer: string, allowLoopbackHttp: boolean): string {
  const parsed = parseServerIdentifier(issuer, { allowLoopbackHttp });
  return parsed.kind === 'https' ? parsed.host : 'localhost';
}

/** `aauth:{local}@{domain}` for a top-level agent; `invalid_request` when `local` breaks Tessera's rule. */
export function agentIdentifier(local: string, domain: string): AgentIdentifier {
  if (!isLocalPart(local)) {
    throw new AAuthError('invalid_request', { detail: 'local must be 1–64 characters of a-z 0-9 . _ - (+ marks sub-agents)' });
  }
  return parsed(`aauth:${local}@${domain}`);
}

/**
 * A sub-agent's identifier `aauth:{parent local}+{suffix}@{domain}` (AAuth -11 §Sub-Agents; §8.65). The parent must
 * itself be a top-level agent: sub-agents have no sub-agents.
 */
export function subAgentIdentifier(parent: string, suffix: string): AgentIdentifier {
  if (!isLocalPart(suffix)) {
    throw new AAuthError('invalid_request', { detail: 'local_suffix must be 1–64 characters of a-z 0-9 . _ -' });
  }
  const p = parsed(parent);
  if (p.isSubAgent) throw new AAuthError('invalid_request', { detail: 'a sub-agent cannot have sub-agents (one level only)' });
  return parsed(`aauth:${p.local}+${suffix}@${p.domain}`);
}

function parsed(identifier: string): AgentIdentifier {
  try {
    return parseAgentIdentifier(identifier);
  } catch (cause) {
    throw new AAuthError('invalid_request', { detail: 'not a valid agent identifier', cause });
  }
}
