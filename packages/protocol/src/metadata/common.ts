/**
 * What the four AAuth metadata documents share (AAuth -11 §Metadata Documents, §Endpoint and Other URLs),
 * and the field reader the per-role validators use.
 *
 * - `issuer` is REQUIRED and must equal, byte for byte, the identifier the document was fetched under:
 *   absent → `issuer_missing`, different → `issuer_mismatch` (SK-08; checklist §8.13).
 * - URLs MUST use `https`; endpoint URLs MUST NOT carry a query or fragment. A development option admits
 *   `http` on loopback hosts only.
 * - Unknown members are ignored; any other invalid member → `invalid_metadata`.
 */
import { AAuthError } from '../errors.js';
import { isLoopbackHost } from '../egress/ip-address.js';
import { isEndpointUrl } from '../identifiers.js';

/** The four documents, by role. */
export type MetadataKind = 'agent' | 'person' | 'resource' | 'access';

/** Well-known document names (`dwk`) per role (AAuth -11 §Well-Known URI Registrations). */
export const METADATA_DOCUMENTS: Readonly<Record<MetadataKind, string>> = Object.freeze({
  agent: 'aauth-agent.json',
  person: 'aauth-person.json',
  resource: 'aauth-resource.json',
  access: 'aauth-access.json',
});

/** The role whose document is `dwk`, or `undefined` for a name AAuth does not define. */
export function metadataKindOf(dwk: string): MetadataKind | undefined {
  for (const kind of ['agent', 'person', 'resource', 'access'] as const) {
    if (METADATA_DOCUMENTS[kind] === dwk) return kind;
  }
  return undefined;
}

export interface MetadataOptions {
  /** The server identifier the document was fetched under (the URL minus `/.well-known/{dwk}`). */
  readonly expectedIssuer: string;
  /** Development only: accept `http` URLs whose host is loopback (`localhost`, 127/8, ::1). Default false. */
  readonly allowLoopbackHttp?: boolean;
}

/** Members defined identically in all four documents. */
export interface CommonMetadata {
  readonly issuer: string;
  readonly jwks_uri?: string;
  /** JOSE algorithm identifiers the server's verifier accepts, exactly the set, case-exact. */
  readonly accept_signature_algs?: readonly string[];
  readonly name?: string;
  /** Markdown. MUST be sanitized before rendering (AAuth -11 §Untrusted Input). */
  readonly description?: string;
  readonly logo_uri?: string;
  readonly logo_dark_uri?: string;
  readonly documentation_uri?: string;
  readonly tos_uri?: string;
  readonly policy_uri?: string;
}

const MAX_URL_LENGTH = 2048;
const MAX_ARRAY_LENGTH = 256;

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The issuer check (AAuth -11 §Metadata Documents; SK-08; checklist §8.13). Runs before any other
 * validation so that a document for the wrong server is reported as such.
 */
export function checkIssuer(json: Record<string, unknown>, expectedIssuer: string): string {
  const issuer = json['issuer'];
  if (issuer === undefined || issuer === null) throw new AAuthError('issuer_missing', { detail: 'metadata has no issuer' });
  if (typeof issuer !== 'string' || issuer !== expectedIssuer) {
    throw new AAuthError('issuer_mismatch', { detail: 'metadata issuer differs from the identifier it was fetched under' });
  }
  return issuer;
}

/** Drops members whose value is `undefined` (the documents are built under `exactOptionalPropertyTypes`). */
export function compact<T>(fields: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return Object.freeze(out) as T;
}

/** Typed access to the members of a metadata document; every failure is `invalid_metadata`. */
export class MetadataReader {
  readonly #json: Record<string, unknown>;
  readonly #allowLoopbackHttp: boolean;

  constructor(json: Record<string, unknown>, options: { allowLoopbackHttp?: boolean } = {}) {
    this.#json = json;
    this.#allowLoopbackHttp = options.allowLoopbackHttp === true;
  }

  #invalid(name: string, why: string): AAuthError {
    return new AAuthError('invalid_metadata', { detail: `${name} ${why}` });
  }

  #value(name: string, required: boolean): unknown {
    const value = this.#json[name];
    if (value === undefined || value === null) {
      if (required) throw this.#invalid(name, 'is REQUIRED');
      return undefined;
    }
    return value;
  }

  string(name: string, required = false): string | undefined {
    const value = this.#value(name, required);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw this.#invalid(name, 'is not a string');
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.#value(name, false);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw this.#invalid(name, 'is not a boolean');
    return value;
  }

  positiveInteger(name: string): number | undefined {
    const value = this.#value(name, false);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw this.#invalid(name, 'is not a positive integer');
    return value;
  }

  /** An array of non-empty strings. */
  stringArray(name: string): readonly string[] | undefined {
    const value = this.#value(name, false);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.length > MAX_ARRAY_LENGTH) throw this.#invalid(name, 'is not an array of strings');
    for (const item of value) {
      if (typeof item !== 'string' || item.length === 0) throw this.#invalid(name, 'is not an array of non-empty strings');
    }
    return Object.freeze([...(value as string[])]);
  }

  /** An object whose members are all strings. */
  stringMap(name: string): Readonly<Record<string, string>> | undefined {
    const value = this.#value(name, false);
    if (value === undefined) return undefined;
    if (!isJsonObject(value)) throw this.#invalid(name, 'is not an object');
    const out: Record<string, string> = {};
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== 'string') throw this.#invalid(name, `member ${JSON.stringify(key)} is not a string`);
      out[key] = item;
    }
    return Object.freeze(out);
  }

  /**
   * A URL (AAuth -11 §Endpoint and Other URLs): MUST use `https`, carries no userinfo; an endpoint
   * additionally MUST NOT contain a query or fragment.
   */
  url(name: string, options: { required?: boolean; endpoint?: boolean } = {}): string | undefined {
    const value = this.#value(name, options.required === true);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.length > MAX_URL_LENGTH) throw this.#invalid(name, 'is not a URL string');
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw this.#invalid(name, 'is not an absolute URL');
    }
    const httpAllowed = this.#allowLoopbackHttp && url.protocol === 'http:' && isLoopbackHost(url.hostname);
    if (url.protocol !== 'https:' && !httpAllowed) throw this.#invalid(name, 'MUST use https');
    if (url.username !== '' || url.password !== '') throw this.#invalid(name, 'carries userinfo');
    // Endpoint URLs follow the one definition in identifiers.ts (https, no query or fragment, not even empty).
    if (options.endpoint === true && !isEndpointUrl(value, { allowLoopbackHttp: this.#allowLoopbackHttp })) {
      throw this.#invalid(name, 'MUST be an https URL without query or fragment');
    }
    return value;
  }

  endpoint(name: string, required = false): string | undefined {
    return this.url(name, { required, endpoint: true });
  }

  /** The members of `CommonMetadata`; `jwks_uri` REQUIRED unless the role says otherwise. */
  common(issuer: string, jwksUriRequired: boolean): Record<string, unknown> {
    return {
      issuer,
      jwks_uri: this.url('jwks_uri', { required: jwksUriRequired }),
      accept_signature_algs: this.stringArray('accept_signature_algs'),
      name: this.string('name'),
      description: this.string('description'),
      logo_uri: this.url('logo_uri'),
      logo_dark_uri: this.url('logo_dark_uri'),
      documentation_uri: this.url('documentation_uri'),
      tos_uri: this.url('tos_uri'),
      policy_uri: this.url('policy_uri'),
    };
  }
}

/** Issuer check, then a reader over the document. Non-objects → `invalid_metadata`. */
export function openMetadata(json: unknown, options: MetadataOptions): { issuer: string; reader: MetadataReader } {
  if (!isJsonObject(json)) throw new AAuthError('invalid_metadata', { detail: 'metadata is not a JSON object' });
  const issuer = checkIssuer(json, options.expectedIssuer);
  const reader = new MetadataReader(json, options.allowLoopbackHttp === undefined ? {} : { allowLoopbackHttp: options.allowLoopbackHttp });
  return { issuer, reader };
}

/** Validates only the common members (for documents under a `dwk` AAuth does not define). */
export function parseCommonMetadata(json: unknown, options: MetadataOptions): CommonMetadata {
  const { issuer, reader } = openMetadata(json, options);
  return compact<CommonMetadata>(reader.common(issuer, false));
}
