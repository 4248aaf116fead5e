/**
 * Pending-request ids: the last segment of the pending URL `{issuer}/pending/{id}`. AAuth -11 §Security
 * Considerations (digest §7): pending URLs MUST be unguessable — 128 bits from a CSPRNG, base64url.
 */
import { randomBytes } from 'node:crypto';

/** Bits of entropy in a pending id. */
export const PENDING_ID_BITS = 128;

/** 22 base64url characters: 128 random bits (ids minted before the no-leading-`-` rule stay valid). */
const PENDING_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/**
 * A new, unguessable pending id (128 CSPRNG bits, unpadded base64url). Ids are typed on command lines
 * (`tessera approvals approve ID`), where a leading `-` reads as an option, so such a draw is redrawn;
 * that costs log2(64/63) ≈ 0.02 bits.
 */
export function newPendingId(): string {
  for (;;) {
    const id = randomBytes(PENDING_ID_BITS / 8).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** True when `value` has the shape of a pending id (checked before any lookup). */
export function isPendingId(value: string): boolean {
  return PENDING_ID_PATTERN.test(value);
}
