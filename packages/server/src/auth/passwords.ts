/**
 * Password hashing for local accounts: scrypt (N=2^15, r=8, p=1), a 16-byte random salt and a 32-byte key,
 * encoded `scrypt$N$r$p$salt$hash` (salt and hash base64url). Comparison is constant time (`timingSafeEqual`).
 * AAuth -11 §Security Considerations: the PS MUST authenticate the people who approve for agents.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export const SCRYPT_N = 2 ** 15;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Largest parameters a stored hash may ask for (a corrupt row must not exhaust memory). */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
/** Passwords longer than this are refused before any hashing. */
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * A well-formed hash of no password anyone knows, with the current parameters: verifying against it costs the
 * same scrypt work as a real check, so an unknown username takes as long as a wrong password.
 */
export const DUMMY_PASSWORD_HASH = `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;

function derive(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** scrypt needs 128·N·r·p bytes; allow that plus headroom (Node's default cap is 32 MiB, exactly our need). */
const memoryFor = (N: number, r: number, p: number): number => 128 * N * r * p + 16 * 1024 * 1024;

/** Hashes a password with a fresh salt and the current parameters. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: memoryFor(SCRYPT_N, SCRYPT_R, SCRYPT_P) });
  return ['scrypt', SCRYPT_N, SCRYPT_R, SCRYPT_P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface ParsedHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function parseHash(encoded: string): ParsedHash | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  const validInt = (v: number, max: number) => Number.isSafeInteger(v) && v >= 1 && v <= max;
  if (!validInt(N, MAX_N) || (N & (N - 1)) !== 0 || N < 2 || !validInt(R, MAX_R) || !validInt(P, MAX_P)) return undefined;
  if (!B64URL.test(salt) || !B64URL.test(hash)) return undefined;
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length < 8 || hashBytes.length < 16 || hashBytes.length > 64) return undefined;
  return { N, r: R, p: P, salt: saltBytes, hash: hashBytes };
}

/**
 * Checks `password` against an encoded hash in constant time. A malformed hash is checked against
 * {@link DUMMY_PASSWORD_HASH} (same work) and fails.
 */
export async function verifyPasswordHash(password: string, encoded: string): Promise<boolean> {
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH) return false;
  const parsed = parseHash(encoded);
  const target = parsed ?? parseHash(DUMMY_PASSWORD_HASH)!;
  const key = await derive(password, target.salt, target.hash.length, { N: target.N, r: target.r, p: target.p, maxmem: memoryFor(target.N, target.r, target.p) });
  return timingSafeEqual(key, target.hash) && parsed !== undefined;
}

/** Whether a stored hash uses weaker parameters than the current ones (rehash on the next successful sign-in). */
export function needsRehash(encoded: string): boolean {
  const parsed = parseHash(encoded);
  return parsed === undefined || parsed.N < SCRYPT_N || parsed.r < SCRYPT_R || parsed.p < SCRYPT_P || parsed.hash.length < KEY_BYTES;
}
