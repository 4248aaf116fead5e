import { AAuthError, createSigner, publicJwkOf, validatePublicJwk, type PrivateJwk, type Signer } from '@tessera/protocol';
import { isObject, parseJson, readSource, UsageError, type CliIo } from './io.js';

/** Reads a private JWK file and checks it is a usable AAuth signing key (fully specified `alg`, `d` present). */
export async function readPrivateJwk(path: string, io: CliIo): Promise<PrivateJwk> {
  const jwk = parseJson(await readSource(path, io), `key file ${path}`);
  if (!isObject(jwk) || typeof jwk['d'] !== 'string') throw new UsageError(`key file ${path} is not a private JWK (no "d")`);
  const { d, p, q, dp, dq, qi, ...publicPart } = jwk;
  void p; void q; void dp; void dq; void qi;
  try {
    validatePublicJwk(publicPart);
  } catch (error) {
    throw new UsageError(`key file ${path}: ${error instanceof AAuthError ? error.message : String(error)}`);
  }
  return { ...(publicPart as unknown as PrivateJwk), d };
}

export async function readSigner(path: string, io: CliIo): Promise<Signer> {
  const jwk = await readPrivateJwk(path, io);
  try {
    return await createSigner(jwk);
  } catch (error) {
    throw new UsageError(`key file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export { publicJwkOf };
