/**
 * The `jti` of a token this server issues and records in `issued_tokens` (and `person_token_records`): 32 lowercase
 * hex digits, like the protocol layer's random `jti`, of which the first 12 are the issuing time in milliseconds and
 * the other 20 random (80 bits from the CSPRNG pool: a `jti` is public, and unique with overwhelming probability —
 * RFC 7519 §4.1.7 — since two tokens would need the same millisecond and the same 80 bits).
 *
 * Why the time: the tables' primary keys are B-trees ordered by `jti`. A random key lands on a random leaf, so every
 * issued token dirtied a page of its own, written to the WAL at COMMIT; keys that grow with time land on the last
 * leaf, which the tokens of one commit batch share (the same reasoning as UUIDv7, RFC 9562 §5.7). The time it shows is
 * the token's `iat`, which the token states anyway.
 */
import { pooledRandomHex } from '@tessera/protocol';

export function issuedJti(nowSeconds: number): string {
  const ms = Math.max(0, Math.floor(nowSeconds * 1000));
  return ms.toString(16).padStart(12, '0').slice(-12) + pooledRandomHex(10);
}

/**
 * One reading of `clock` for a token being issued: `now` (whole seconds, its `iat`), its `jti`, and `clock`, which
 * answers that same reading (pass it as the minting's `now`), so `iat`, `exp` and the time in `jti` are one instant.
 */
export function issuance(clock: () => number): { readonly now: number; readonly jti: string; readonly clock: () => number } {
  const at = clock();
  return { now: Math.floor(at), jti: issuedJti(at), clock: () => at };
}
