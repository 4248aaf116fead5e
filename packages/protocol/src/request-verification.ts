/**
 * The steps every signed-request verification shares, whatever the Signature-Key scheme (AAuth -11 §HTTP Message
 * Signatures Profile; SK-08 §Verification): (1) headers, (2) covered components, (3) time — then the scheme's own
 * key resolution — then (6) algorithm, (7) signature, the Content-Digest, and the optional replay check.
 * `verifyAAuthRequest` (`jwt`), `verifyHwkRequest` and `verifyServerRequest` (`jwks_uri`) are built from these.
 */
import { verifyContentDigest, type DigestFunction } from './content-digest.js';
import { SUPPORTED_ALGORITHMS, type JwsAlgorithm, type VerifyKey } from './crypto/types.js';
import { AAuthError } from './errors.js';
import { headerValue, type HttpRequestMessage } from './http-message.js';
import { SignatureContext } from './http-signatures/component-value.js';
import { buildSignatureBase, signatureBaseBytes } from './http-signatures/signature-base.js';
import { selectSignature, type ParsedSignature } from './http-signatures/signature-input.js';
import { checkSignatureTime, requireComponents } from './http-signatures/verify.js';
import { replayKey, type ReplayCache } from './replay-cache.js';

/** The components every AAuth request signature covers (AAuth -11 §HTTP Message Signatures Profile). */
export const AAUTH_BASE_COMPONENTS = ['@method', '@authority', '@path', 'signature-key'] as const;

/** One check of a verification, reported in order to an optional trace (`tessera http verify --explain`). */
export interface VerificationStep {
  readonly step: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** Options every signed-request verifier takes. */
export interface SignatureCheckOptions {
  /** The clock, epoch seconds. */
  readonly now: () => number;
  /** Signature `created` window in seconds; 60 by default (AAuth §Signature Parameters). */
  readonly window?: number;
  /** Verify the signature under this label; by default the request must carry exactly one. */
  readonly label?: string;
  /** Components required beyond the profile's (`additional_signature_components`). */
  readonly additionalComponents?: readonly string[];
  /**
   * PS and AS endpoints: a request with a body MUST cover `content-digest` and `content-type` (§8.1).
   * Whenever `content-digest` is covered and a body is given, the digest is checked against the body.
   */
  readonly requireContentDigest?: boolean;
  /** Algorithms accepted for the signing key; Ed25519, ES256 and PS256 by default. */
  readonly acceptAlgorithms?: readonly JwsAlgorithm[];
  /** How the Content-Digest check hashes the body (WebCrypto by default; `nodeDigest` in Node). */
  readonly digest?: DigestFunction;
  /** Optional replay detection on `(jkt, created, method, authority, path)`; there is no nonce in AAuth. */
  readonly replayCache?: ReplayCache;
  readonly trace?: (step: VerificationStep) => void;
}

/** What steps 1–3 leave for the scheme's key resolution. */
export interface CheckedSignature {
  readonly ctx: SignatureContext;
  readonly lines: Map<string, string[]>;
  readonly parsed: ParsedSignature;
}

/** Steps 1–3: headers present (`invalid_request`), components covered (`invalid_input`), time (`invalid_signature`). */
export function checkSignatureSteps(request: HttpRequestMessage, options: SignatureCheckOptions, stage: { name: string }): CheckedSignature {
  const trace = options.trace;
  stage.name = 'signature headers';
  // One signature context: header lines read once, the target URI parsed at most once.
  const ctx = new SignatureContext(request);
  const lines = ctx.lines;
  const missing = ['signature', 'signature-input', 'signature-key'].filter((h) => !lines.has(h));
  if (missing.length > 0) throw new AAuthError('invalid_request', { detail: `missing ${missing.join(', ')} header` });
  const parsed = selectSignature(lines, options.label);
  trace?.({ step: stage.name, ok: true, detail: `label ${parsed.label}` });

  stage.name = 'covered components';
  const required: string[] = [...AAUTH_BASE_COMPONENTS];
  const hasBody = request.body !== undefined && request.body.length > 0;
  if (options.requireContentDigest && hasBody) required.push('content-digest', 'content-type');
  const authorization = headerValue(lines, 'authorization');
  if (authorization !== undefined && /^AAuth(\s|$)/i.test(authorization)) required.push('authorization');
  for (const c of options.additionalComponents ?? []) if (!required.includes(c)) required.push(c);
  requireComponents(parsed, required);
  trace?.({ step: stage.name, ok: true, detail: parsed.components.map((c) => c.name).join(' ') });

  stage.name = 'created window';
  checkSignatureTime(parsed.params, { now: options.now(), window: options.window ?? 60 });
  trace?.({ step: stage.name, ok: true, detail: `created ${parsed.params.created}` });
  return { ctx, lines, parsed };
}

/**
 * Steps 6–7 and after: the key's algorithm accepted (`unsupported_algorithm` + the accepted set), the signature over
 * the base with the key from Signature-Key — never `alg` or `keyid` (`invalid_signature`) — the Content-Digest
 * against the body, and the replay check. Returns the signature base.
 */
export async function finishSignatureSteps(
  request: HttpRequestMessage,
  checked: CheckedSignature,
  key: VerifyKey,
  options: SignatureCheckOptions,
  stage: { name: string },
): Promise<string> {
  const { ctx, lines, parsed } = checked;
  const trace = options.trace;
  stage.name = 'algorithm';
  const accepted = options.acceptAlgorithms ?? SUPPORTED_ALGORITHMS;
  if (!accepted.includes(key.alg)) {
    throw new AAuthError('unsupported_algorithm', { detail: `alg ${key.alg}`, acceptAlgorithms: accepted });
  }
  trace?.({ step: stage.name, ok: true, detail: key.alg });

  stage.name = 'signature';
  const signatureBase = buildSignatureBase(ctx, parsed.components, parsed.signatureParams, 'invalid_signature');
  trace?.({ step: 'signature base', ok: true, detail: signatureBase });
  if (!(await key.verify(signatureBaseBytes(signatureBase), parsed.signature))) {
    throw new AAuthError('invalid_signature', { detail: 'signature does not verify' });
  }
  trace?.({ step: stage.name, ok: true });

  if (request.body !== undefined && parsed.components.some((c) => c.name === 'content-digest')) {
    stage.name = 'content-digest';
    await verifyContentDigest(headerValue(lines, 'content-digest'), request.body, options.digest === undefined ? {} : { digest: options.digest });
    trace?.({ step: stage.name, ok: true });
  }

  if (options.replayCache) {
    stage.name = 'replay';
    const url = new URL(request.url);
    const fresh = await options.replayCache.checkAndStore(
      replayKey({ jkt: key.thumbprint, created: parsed.params.created ?? 0, method: request.method, authority: url.host, path: url.pathname }),
      2 * (options.window ?? 60),
    );
    if (!fresh) throw new AAuthError('invalid_signature', { detail: 'replayed request' });
    trace?.({ step: stage.name, ok: true });
  }
  return signatureBase;
}

/** Turns anything thrown during verification into a typed failure (never an uncaught exception). */
export function verificationFailure(error: unknown, stage: { name: string }, trace?: (step: VerificationStep) => void): { ok: false; error: AAuthError } {
  const typed = error instanceof AAuthError ? error : new AAuthError('invalid_request', { detail: 'malformed request', cause: error });
  trace?.({ step: stage.name, ok: false, detail: typed.message });
  return { ok: false, error: typed };
}
