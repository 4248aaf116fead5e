import { verifyContentDigest } from './content-digest.js';
import { SUPPORTED_ALGORITHMS, type JwsAlgorithm } from './crypto/types.js';
import { AAuthError, isAAuthError, type Result } from './errors.js';
import { headerValue, type HttpRequestMessage } from './http-message.js';
import { SignatureContext } from './http-signatures/component-value.js';
import { buildSignatureBase, signatureBaseBytes } from './http-signatures/signature-base.js';
import { selectSignature, type ParsedSignature } from './http-signatures/signature-input.js';
import { checkSignatureTime, requireComponents } from './http-signatures/verify.js';
import type { ReplayCache } from './replay-cache.js';
import { replayKey } from './replay-cache.js';
import { selectSignatureKey } from './signature-key.js';
import type { VerifyKeyCache } from './crypto/verify-key.js';
import type { VerifiedTokenCache } from './tokens/token-cache.js';
import { verifyToken, type KeyResolver, type VerifiedToken } from './tokens/verify-token.js';
import { AAUTH_BASE_COMPONENTS } from './request-signer.js';

/** Token kinds that can carry the signing key of a request (`Signature-Key: sig=jwt`). */
export type RequestTokenTyp = 'aa-agent+jwt' | 'aa-person+jwt' | 'aa-auth+jwt';

/** One check of the verification, reported in order to an optional trace (`tessera http verify --explain`). */
export interface VerificationStep {
  readonly step: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface VerifyAAuthRequestOptions<K extends RequestTokenTyp> {
  /**
   * The token kinds this verifier accepts, non-empty. A person token differs from an auth token only by `typ`,
   * so accepting "any token" would fail open (§8.22): the caller must name what it takes.
   */
  readonly accept: readonly [K, ...K[]];
  /** Resolves `{iss}/.well-known/{dwk}` → `jwks_uri` → key by `kid` (see `createKeyResolver`). */
  readonly resolveKey: KeyResolver;
  /** The clock, epoch seconds. */
  readonly now: () => number;
  /** Signature `created` window in seconds; 60 by default (AAuth §Signature Parameters). */
  readonly window?: number;
  /** Verify the signature under this label; by default the request must carry exactly one. */
  readonly label?: string;
  /** This verifier's identifier: person and auth tokens must name it in `aud`. */
  readonly audience?: string;
  /** Components the verifier requires beyond the profile's (`additional_signature_components`). */
  readonly additionalComponents?: readonly string[];
  /**
   * PS and AS endpoints: a request with a body MUST cover `content-digest` and `content-type` (§8.1).
   * Whenever `content-digest` is covered and a body is given, the digest is checked against the body.
   */
  readonly requireContentDigest?: boolean;
  /** Algorithms accepted for the signing key; Ed25519, ES256 and PS256 by default. */
  readonly acceptAlgorithms?: readonly JwsAlgorithm[];
  /**
   * Imported signing keys (`cnf.jwk`), so a key seen before is not imported again. Pass one per verifier: without
   * it every request imports its key afresh. In Node, `new VerifyKeyCache({ importKey: importNodeVerifyKey })`.
   */
  readonly keyCache?: VerifyKeyCache;
  /** Verified-token cache: a hit skips the token's own verification, never the request signature. */
  readonly tokenCache?: VerifiedTokenCache;
  /** Optional replay detection on `(jkt, created, method, authority, path)`; there is no nonce in AAuth. */
  readonly replayCache?: ReplayCache;
  readonly trace?: (step: VerificationStep) => void;
}

export interface VerifiedAAuthRequest<K extends RequestTokenTyp> {
  readonly label: string;
  readonly scheme: 'jwt';
  /** RFC 7638 thumbprint of the signing key (`cnf.jwk`): what `agent_jkt` names. */
  readonly jkt: string;
  readonly created: number;
  readonly components: readonly string[];
  readonly token: VerifiedToken<K>;
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
  const trace = options.trace;
  let stage = 'signature headers';
  try {
    // 1. headers
    // One signature context: header lines read once, the target URI parsed at most once.
    const ctx = new SignatureContext(request);
    const lines = ctx.lines;
    const missing = ['signature', 'signature-input', 'signature-key'].filter((h) => !lines.has(h));
    if (missing.length > 0) throw new AAuthError('invalid_request', { detail: `missing ${missing.join(', ')} header` });
    const parsed: ParsedSignature = selectSignature(lines, options.label);
    trace?.({ step: stage, ok: true, detail: `label ${parsed.label}` });

    // 2. components
    stage = 'covered components';
    const required: string[] = [...AAUTH_BASE_COMPONENTS];
    const hasBody = request.body !== undefined && request.body.length > 0;
    if (options.requireContentDigest && hasBody) required.push('content-digest', 'content-type');
    const authorization = headerValue(lines, 'authorization');
    if (authorization !== undefined && /^AAuth(\s|$)/i.test(authorization)) required.push('authorization');
    for (const c of options.additionalComponents ?? []) if (!required.includes(c)) required.push(c);
    requireComponents(parsed, required);
    trace?.({ step: stage, ok: true, detail: parsed.components.map((c) => c.name).join(' ') });

    // 3. time
    stage = 'created window';
    checkSignatureTime(parsed.params, { now: options.now(), window: options.window ?? 60 });
    trace?.({ step: stage, ok: true, detail: `created ${parsed.params.created}` });

    // 4. scheme
    stage = 'signature-key scheme';
    // `accept` makes an unsupported scheme fail before its parameters are examined (step 4 before step 5).
    const member = selectSignatureKey(headerValue(lines, 'signature-key'), parsed.label, { accept: ['jwt'] });
    if (member.scheme !== 'jwt') {
      throw new AAuthError('unsupported_scheme', { detail: `scheme ${member.scheme === 'unknown' ? member.token : member.scheme}; AAuth agents use jwt` });
    }
    trace?.({ step: stage, ok: true, detail: 'jwt' });

    // 5. key resolution: the token, typ first
    stage = 'token';
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
    trace?.({ step: stage, ok: true, detail: `${token.kind} from ${token.claims.iss}` });

    // 6. algorithm
    stage = 'algorithm';
    const key = token.cnfKey;
    const accepted = options.acceptAlgorithms ?? SUPPORTED_ALGORITHMS;
    if (!accepted.includes(key.alg)) {
      throw new AAuthError('unsupported_algorithm', { detail: `alg ${key.alg}`, acceptAlgorithms: accepted });
    }
    trace?.({ step: stage, ok: true, detail: key.alg });

    // 7. signature
    stage = 'signature';
    const signatureBase = buildSignatureBase(ctx, parsed.components, parsed.signatureParams, 'invalid_signature');
    trace?.({ step: 'signature base', ok: true, detail: signatureBase });
    if (!(await key.verify(signatureBaseBytes(signatureBase), parsed.signature))) {
      throw new AAuthError('invalid_signature', { detail: 'signature does not verify' });
    }
    trace?.({ step: stage, ok: true });

    const covered = parsed.components.map((c) => c.name);
    if (covered.includes('content-digest') && request.body !== undefined) {
      stage = 'content-digest';
      await verifyContentDigest(headerValue(lines, 'content-digest'), request.body);
      trace?.({ step: stage, ok: true });
    }

    const created = parsed.params.created ?? 0;
    if (options.replayCache) {
      stage = 'replay';
      const url = new URL(request.url);
      const fresh = await options.replayCache.checkAndStore(
        replayKey({ jkt: key.thumbprint, created, method: request.method, authority: url.host, path: url.pathname }),
        2 * (options.window ?? 60),
      );
      if (!fresh) throw new AAuthError('invalid_signature', { detail: 'replayed request' });
      trace?.({ step: stage, ok: true });
    }

    return {
      ok: true,
      value: { label: parsed.label, scheme: 'jwt', jkt: key.thumbprint, created, components: covered, token, signatureBase },
    };
  } catch (error) {
    const typed = isAAuthError(error) ? error : new AAuthError('invalid_request', { detail: 'malformed request', cause: error });
    trace?.({ step: stage, ok: false, detail: typed.message });
    return { ok: false, error: typed };
  }
}
