/**
 * Ed25519 in `@tessera/protocol/node`: libsodium when `sodium-native` loads (src/node/libsodium.ts), node:crypto
 * otherwise. Both must give exactly the answers RFC 8032 gives.
 */
import { createPublicKey, generateKeyPairSync, sign as opensslSign, verify as opensslVerify } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { b64urlEncode } from '../src/base64url.js';
import { ED25519_SMALL_ORDER_ENCODINGS } from '../src/crypto/ed25519-small-order.js';
import type { PrivateJwk, PublicJwk } from '../src/crypto/types.js';
import { cryptoBackend } from '../src/node/crypto-backend.js';
import { libsodium } from '../src/node/libsodium.js';
import { importServerVerifyKey } from '../src/node/server-verify-key.js';
import { createNodeSigner } from '../src/node/signer.js';
import { importNodeVerifyKey } from '../src/node/verify-key.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/** RFC 8032 §7.1, TESTs 1–3 (secret key = the seed, the JWK `d`). */
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

const jwkOf = (v: (typeof RFC8032)[number]): PrivateJwk => ({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', x: b64urlEncode(hex(v.publicKey)), d: b64urlEncode(hex(v.seed)) });
const publicOf = ({ d: _d, ...rest }: PrivateJwk): PublicJwk => rest;

describe('Ed25519 in @tessera/protocol/node', () => {
  it('uses libsodium here (sodium-native is installed from the lockfile)', () => {
    expect(cryptoBackend()).toBe('libsodium');
    expect(libsodium()?.name).toBe('libsodium');
  });

  it('signs the RFC 8032 §7.1 vectors byte-exact and verifies them', async () => {
    for (const v of RFC8032) {
      const signer = await createNodeSigner(jwkOf(v));
      expect(Buffer.from(await signer.sign(hex(v.message))).toString('hex')).toBe(v.signature);
      for (const importer of [importNodeVerifyKey, importServerVerifyKey]) {
        const key = await importer(publicOf(jwkOf(v)));
        expect(await key.verify(hex(v.message), hex(v.signature))).toBe(true);
        const tampered = hex(v.signature);
        tampered[10] = tampered[10]! ^ 1;
        expect(await key.verify(hex(v.message), tampered)).toBe(false);
        expect(await key.verify(Uint8Array.from([...hex(v.message), 0]), hex(v.signature))).toBe(false);
        expect(await key.verify(hex(v.message), hex(v.signature).subarray(0, 63))).toBe(false);
      }
    }
  });

  it('agrees with OpenSSL byte for byte on random keys and messages, both ways', async () => {
    for (let i = 0; i < 25; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const jwk = { ...(privateKey.export({ format: 'jwk' }) as PrivateJwk), alg: 'Ed25519' as const };
      const message = Uint8Array.from(Buffer.from(`message ${i} ${'x'.repeat(i * 13)}`));
      const ours = await (await createNodeSigner(jwk)).sign(message);
      expect(Buffer.from(ours).equals(opensslSign(null, message, privateKey))).toBe(true);
      expect(opensslVerify(null, message, publicKey, ours)).toBe(true);
      const key = await importNodeVerifyKey(publicOf(jwk));
      expect(await key.verify(message, opensslSign(null, message, privateKey))).toBe(true);
    }
  });

  it('refuses a private JWK whose x is not the public key of its d', async () => {
    const a = jwkOf(RFC8032[0]!);
    const b = jwkOf(RFC8032[1]!);
    await expect(createNodeSigner({ ...a, x: b.x! })).rejects.toMatchObject({ code: 'invalid_key' });
  });

  it('a small-order key admits a forged signature under OpenSSL, which is why the key policy refuses it', async () => {
    // R = the identity, S = 0: valid under OpenSSL for every message whose k is a multiple of the point's order.
    const forged = new Uint8Array(64);
    forged[0] = 1;
    for (const encoding of ED25519_SMALL_ORDER_ENCODINGS) {
      const x = b64urlEncode(encoding);
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
      let accepted = 0;
      for (let m = 0; m < 64; m++) if (opensslVerify(null, Buffer.from(`m${m}`), key, forged)) accepted++;
      expect(accepted).toBeGreaterThan(0);
      expect(libsodium()!.verify(Buffer.from('m0'), forged, encoding)).toBe(false);
      await expect(importNodeVerifyKey({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', x })).rejects.toMatchObject({ code: 'invalid_key' });
    }
  });

  it('falls back to node:crypto when told to (TESSERA_CRYPTO=openssl), with the same answers', async () => {
    vi.resetModules();
    vi.stubEnv('TESSERA_CRYPTO', 'openssl');
    try {
      const fresh = await import('../src/node/index.js');
      expect(fresh.cryptoBackend()).toBe('openssl');
      for (const v of RFC8032) {
        const signer = await fresh.createNodeSigner(jwkOf(v));
        expect(Buffer.from(await signer.sign(hex(v.message))).toString('hex')).toBe(v.signature);
        const key = await fresh.importNodeVerifyKey(publicOf(jwkOf(v)));
        expect(await key.verify(hex(v.message), hex(v.signature))).toBe(true);
        expect(await key.verify(hex(v.message), new Uint8Array(64))).toBe(false);
        const server = await fresh.importServerVerifyKey(publicOf(jwkOf(v)));
        expect(await server.verify(hex(v.message), hex(v.signature))).toBe(true);
      }
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('refuses a seed that is not 32 bytes with invalid_key', async () => {
    const jwk = jwkOf(RFC8032[0]!);
    await expect(createNodeSigner({ ...jwk, d: b64urlEncode(new Uint8Array(31)) })).rejects.toMatchObject({ code: 'invalid_key' });
  });
});
