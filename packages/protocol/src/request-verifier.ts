import type { VerifyKeyCache } from './crypto/verify-key.js';
import { AAuthError, type Result } from './errors.js';
import { headerValue, type HttpRequestMessage } from './http-message.js';
import { checkSignatureSteps, finishSignatureSteps, verificationFailure, type SignatureCheckOptions } from './request-verification.js';
import { selectSignatureKey } from './signature-key.js';
import type { VerifiedTokenCache } from './tokens/token-cache.js';
import { verifyToken, type KeyResolver, type VerifiedToken } from './tokens/verify-token.js';

export { AAUTH_BASE_COMPONENTS, type SignatureCheckOptions, type VerificationStep } from './request-verification.js';

/** Token kinds that can carry the signing key of a request (`Signature-Key: sig=jwt`). */
export type RequestTokenTyp = 'aa-agent+jwt' | 'aa-person+jwt' | 'aa-auth+jwt';

export interface VerifyAAuthRequestOptions<K extends RequestTokenTyp> extends SignatureCheckOptions {
  /**
   * The token kinds this verifier accepts, non-empty. A person token differs from an auth token only by `typ`,
   * so accepting "any token" would fail open (§8.22): the caller must name what it takes.
   */
  readonly accept: readonly [K, ...K[]];
  /** Resolves `{iss}/.well-known/{dwk}` → `jwks_uri` → key by `kid` (see `createKeyResolver`). */
  readonly resolveKey: KeyResolver;
  /** This verifier's identifier: person and auth tokens must name it in `aud`. */
  readonly audience?: string;
  /**
   * Imported signing keys (`cnf.jwk`), so a key seen before is not imported again. Pass one per verifier: without
   * it every request imports its key afresh. In Node, `new VerifyKeyCache({ importKey: importNodeVerifyKey })`.
   */
  readonly keyCache?: VerifyKeyCache;
  /** Verified-token cache: a hit skips the token's own verification, never the request signature. */
  readonly tokenCache?: VerifiedTokenCache;
}

export interface VerifiedAAuthRequest<K extends RequestTokenTyp> {
  readonly label: string;
  readonly scheme: 'jwt';
  /** RFC 7638 thumbprint of the signing key (`cnf.jwk`): what `agent_jkt` names. */
  readonly jkt: string;
  readonly created: number;
  readonly components: readonly string[];
  readonly token: VerifiedToken<K>;
  /**
   * The token from `Signature-Key` as sent (compact JWT). A resource that calls onward for the person passes its auth
   * token on as `upstream_token` (AAuth -11 §Call Chaining).
   */
  readonly jwt: string;
  readonly signatureBase: string;
}

/**
 * Verifies an AAuth request in the order of AAuth -11 §HTTP Message Signatures Profile / SK-08, each failure
 * a typed error whose code is the `Signature-Error` code to answer with (401):
 *
 * 1. signature headers present (`invalid_request`, §8.3);
 * 2. required components covered — the profile's, `signature-key` (§8.10), `content-digest`/`content-type` when
 *    required, `authorization` when a session token is sent (§8.51) — (`invalid_input` + `required_input`, §8.4);
 * 3. `created` inside the window, `expires` not past (`invalid_signature`, §8.5);
 * 4. scheme `jwt` (`unsupported_scheme`, §8.6);
 * 5. the token verified, kind first (`invalid_jwt`, `expired_jwt`, `unknown_key`, `invalid_key`, `issuer_*`);
 * 6. the key's `alg` accepted (`unsupported_algorithm`, §8.7);
 * 7. the signature over the base (`invalid_signature`), with the key from `Signature-Key`, never `alg`/`keyid` (§8.9).
 *
 * Never throws on bad input: any failure comes back as `{ ok: false, error }`.
 */
export async function verifyAAuthRequest<K extends RequestTokenTyp>(
  request: HttpRequestMessage,
  options: VerifyAAuthRequestOptions<K>,
): Promise<Result<VerifiedAAuthRequest<K>>> {
  const stage = { name: 'signature headers' };
  try {
    const checked = checkSignatureSteps(request, options, stage);

    // 4. scheme; `accept` makes an unsupported scheme fail before its parameters are examined (step 4 before 5).
    stage.name = 'signature-key scheme';
    const member = selectSignatureKey(headerValue(checked.lines, 'signature-key'), checked.parsed.label, { accept: ['jwt'] });
    if (member.scheme !== 'jwt') {
      throw new AAuthError('unsupported_scheme', { detail: `scheme ${member.scheme === 'unknown' ? member.token : member.scheme}; AAuth agents use jwt` });
    }
    options.trace?.({ step: stage.name, ok: true, detail: 'jwt' });

    // 5. key resolution: the token, typ first
    stage.name = 'token';
    let token = options.tokenCache?.get(member.jwt) as VerifiedToken<K> | undefined;
    if (token === undefined || !(options.accept as readonly string[]).includes(token.kind)) {
      token = await verifyToken(member.jwt, {
        accept: options.accept,
        resolveKey: options.resolveKey,
        now: options.now,
        ...(options.audience === undefined ? {} : { audience: options.audience }),
        ...(options.keyCache === undefined ? {} : { keyCache: options.keyCache }),
      });
      options.tokenCache?.set(member.jwt, token);
    }
    options.trace?.({ step: stage.name, ok: true, detail: `${token.kind} from ${token.claims.iss}` });

    // 6, 7 and after
    const key = token.cnfKey;
    const signatureBase = await finishSignatureSteps(request, checked, key, options, stage);
    const { parsed } = checked;
    return {
      ok: true,
      value: {
        label: parsed.label,
        scheme: 'jwt',
        jkt: key.thumbprint,
        created: parsed.params.created ?? 0,
        components: parsed.components.map((c) => c.name),
        token,
        jwt: member.jwt,
        signatureBase,
      },
    };
  } catch (error) {
    return verificationFailure(error, stage, options.trace);
  }
}
