/**
 * CSPRNG bytes for public identifiers (`jti`, record ids), handed out from a pool that is refilled 4 KiB at a time:
 * `getRandomValues` costs about as much for 16 bytes as for 4 KiB (bench:ps: two small draws per token were 2–3% of
 * the Person Server's event loop). Each byte of the pool is handed out once. Secrets (keys, codes, session ids) are
 * drawn directly, not from here, so that they never sit in a shared buffer before use.
 */

const POOL_BYTES = 4096;
/** Draws larger than this bypass the pool. */
const MAX_POOLED = 256;

let pool = new Uint8Array(0);
let offset = 0;

/** `n` fresh CSPRNG bytes (a copy the caller owns). */
export function pooledRandomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('n must be a non-negative integer');
  if (n > MAX_POOLED) return globalThis.crypto.getRandomValues(new Uint8Array(n));
  if (offset + n > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES));
    offset = 0;
  }
  const out = pool.slice(offset, offset + n);
  // Handed out: wipe it from the pool so it cannot be handed out, or read from the pool, again.
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}

/** `n` pooled random bytes as lowercase hex (2n characters). */
export function pooledRandomHex(n: number): string {
  const bytes = pooledRandomBytes(n);
  let out = '';
  for (const b of bytes) out += (b < 16 ? '0' : '') + b.toString(16);
  return out;
}
