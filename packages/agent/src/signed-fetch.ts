/**
 * One signed HTTP exchange: the AAuth profile signature (`sig=jwt` with the given token, or `hwk` for enrolment)
 * over the request, then the injected fetch. `signAAuthRequest` covers `@method @authority @path signature-key`,
 * `content-digest content-type` on a body and `authorization` with a session token; `created` is now; no `alg`, no
 * `keyid` (§8.1, §8.2).
 */
import { signAAuthRequest, signHwkRequest, type FetchLike, type Signer } from '@tessera/protocol';

export interface SignedRequest {
  readonly method: string;
  readonly url: string;
  /** Header fields to send (and sign where the profile says so); lowercase names recommended. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
  /** Extra RequestInit members passed through (signal, redirect, ...). */
  readonly init?: Omit<RequestInit, 'method' | 'headers' | 'body'>;
}

export interface SigningContext {
  readonly fetch: FetchLike;
  readonly signer: Signer;
  /** Clock, epoch seconds. */
  readonly now: () => number;
}

/** Signs `request` with `credential` (a token for `sig=jwt`, or `{ hwk: true }`) and sends it. */
export async function sendSigned(ctx: SigningContext, request: SignedRequest, credential: string | { readonly hwk: true }): Promise<Response> {
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  const message = { method: request.method, url: request.url, headers, ...(request.body === undefined ? {} : { body: request.body }) };
  const options = { signer: ctx.signer, now: () => Math.floor(ctx.now()) };
  const signed = typeof credential === 'string' ? await signAAuthRequest(message, { ...options, token: credential }) : await signHwkRequest(message, options);
  return ctx.fetch(request.url, {
    ...(request.init ?? {}),
    method: request.method,
    headers: { ...headers, ...signed.headers },
    ...(request.body === undefined ? {} : { body: request.body as BodyInit }),
  });
}

/** A JSON body, its bytes and headers. */
export function jsonBody(value: unknown): { body: Uint8Array; headers: Record<string, string> } {
  return { body: new TextEncoder().encode(JSON.stringify(value)), headers: { 'content-type': 'application/json', accept: 'application/json' } };
}
