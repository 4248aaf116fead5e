/**
 * HTTP message component identifiers (RFC 9421 §2): a component name (a lowercased field name or a
 * derived component name starting with `@`) plus its parameters (`sf`, `key`, `bs`, `req`, `tr`, `name`).
 */

import { AAuthError, type ErrorCode } from '../errors.js';
import { parseSfItem, serializeSfItem, type BareItem, type Item } from '../structured-fields.js';

/** Parameters of a component identifier (RFC 9421 §2.1, §2.2.8, §2.4; registry §6.5). */
export interface ComponentParams {
  /** Strict Structured Field re-serialization of the field value (§2.1.1). */
  readonly sf?: true;
  /** One member of a Dictionary field (§2.1.2). */
  readonly key?: string;
  /** Each field line wrapped as a Byte Sequence (§2.1.3). */
  readonly bs?: true;
  /** The component comes from the request related to a signed response (§2.4). */
  readonly req?: true;
  /** The field is a trailer (§2.1.4). Parsed, but refused when a signature base is built. */
  readonly tr?: true;
  /** The query parameter named by `@query-param` (§2.2.8), in its encoded form. */
  readonly name?: string;
}

/**
 * A component identifier. The order of `params` keys is the order in which the parameters are
 * serialized; RFC 9421 §2 requires it to be preserved once chosen.
 */
export interface ComponentIdentifier {
  readonly name: string;
  readonly params: ComponentParams;
}

/** Derived components of RFC 9421 §2.2 and the message they are taken from. */
export const DERIVED_COMPONENTS: Readonly<Record<string, 'request' | 'response'>> = {
  '@method': 'request',
  '@target-uri': 'request',
  '@authority': 'request',
  '@scheme': 'request',
  '@request-target': 'request',
  '@path': 'request',
  '@query': 'request',
  '@query-param': 'request',
  '@status': 'response',
};

/** RFC 9110 `tchar` restricted to lowercase letters: the characters of a component name for a field. */
const FIELD_NAME_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") FIELD_NAME_CHARS[c.charCodeAt(0)] = 1;

/** True when `name` is a lowercase HTTP field name (RFC 9421 §2.1: component names of fields MUST be lowercased). */
export function isFieldComponentName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || FIELD_NAME_CHARS[c] !== 1) return false;
  }
  return true;
}

const fail = (code: ErrorCode, detail: string): never => {
  throw new AAuthError(code, { detail });
};

/**
 * Checks the name and parameters of an identifier: known derived name or lowercase field name, and
 * only the parameters (and combinations) RFC 9421 allows for it. Throws `AAuthError(code)`.
 */
export function validateComponentIdentifier(id: ComponentIdentifier, code: ErrorCode): void {
  const { name, params } = id;
  if (typeof name !== 'string' || name.length === 0) fail(code, 'empty component name');
  if (name === '@signature-params') fail(code, '"@signature-params" must not be a covered component (RFC 9421 §2.3)');
  const p = params as Record<string, unknown>;
  for (const k of Object.keys(p)) {
    const v = p[k];
    if (k === 'sf' || k === 'bs' || k === 'req' || k === 'tr') {
      if (v !== true) fail(code, `component parameter "${k}" must be the Boolean true`);
    } else if (k === 'key' || k === 'name') {
      if (typeof v !== 'string') fail(code, `component parameter "${k}" must be a String`);
    } else {
      fail(code, `unknown component parameter "${k}" on ${quote(name)}`);
    }
  }
  if (name.charCodeAt(0) === 0x40 /* @ */) {
    if (!Object.hasOwn(DERIVED_COMPONENTS, name)) fail(code, `unknown derived component ${quote(name)}`);
    if (p.sf !== undefined || p.key !== undefined || p.bs !== undefined || p.tr !== undefined) {
      fail(code, `parameters sf, key, bs and tr apply to fields only, not to ${name}`);
    }
    if (name === '@query-param') {
      if (p.name === undefined) fail(code, '"@query-param" requires the "name" parameter (RFC 9421 §2.2.8)');
    } else if (p.name !== undefined) {
      fail(code, `the "name" parameter applies to "@query-param" only, not to ${name}`);
    }
    return;
  }
  if (!isFieldComponentName(name)) fail(code, `component name ${quote(name)} is not a lowercase field name`);
  if (p.name !== undefined) fail(code, `the "name" parameter does not apply to field ${quote(name)}`);
  // §2.1: `bs` needs the raw field lines; `sf` and `key` need the parsed structure.
  if (p.bs !== undefined && (p.sf !== undefined || p.key !== undefined)) {
    fail(code, `"bs" cannot be combined with "sf" or "key" on ${quote(name)} (RFC 9421 §2.1)`);
  }
}

/** A key under which two identifiers compare equal iff they have the same name and the same parameters in any order (§2). */
export function componentKey(id: ComponentIdentifier): string {
  const entries = Object.entries(id.params);
  if (entries.length === 0) return id.name;
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([id.name, entries]);
}

/** True when both identifiers name the same component (parameter order is not significant, §2). */
export function sameComponent(a: ComponentIdentifier, b: ComponentIdentifier): boolean {
  return componentKey(a) === componentKey(b);
}

/** Serializes an identifier as in the signature base and Signature-Input: `"name";param...` (§2.5, an SF String Item with parameters). */
export function serializeComponentIdentifier(id: ComponentIdentifier): string {
  const keys = Object.keys(id.params);
  if (keys.length === 0 && isFieldComponentNameOrDerived(id.name)) {
    // Fast path: a validated name has no `"` or `\`, so its sf-string is the name in quotes.
    return '"' + id.name + '"';
  }
  return serializeSfItem(toItem(id));
}

const isFieldComponentNameOrDerived = (name: string): boolean =>
  Object.hasOwn(DERIVED_COMPONENTS, name) || isFieldComponentName(name);

/** The SF Item form of an identifier (parameters in their order). */
export function toItem(id: ComponentIdentifier): Item {
  const params = new Map<string, BareItem>();
  for (const [k, v] of Object.entries(id.params) as [string, BareItem][]) params.set(k, v);
  return [id.name, params];
}

/**
 * Converts a parsed SF Item (a String with parameters) to an identifier, keeping parameter order.
 * A non-String item or a parameter of the wrong type → `AAuthError(code)`. Names and parameter
 * combinations are checked by {@link validateComponentIdentifier}.
 */
export function componentFromItem(item: Item, code: ErrorCode): ComponentIdentifier {
  const [bare, parameters] = item;
  if (typeof bare !== 'string') fail(code, 'a covered component must be an SF String');
  const params: Record<string, unknown> = {};
  for (const [k, v] of parameters) params[k] = v;
  const id: ComponentIdentifier = { name: bare as string, params: params };
  validateComponentIdentifier(id, code);
  return id;
}

/**
 * Parses a serialized identifier such as `"@query-param";name="Pet"` or `"example-dict";key="a"`.
 * Throws `AAuthError('invalid_argument')` on anything that is not a valid identifier.
 */
export function parseComponentIdentifier(input: string): ComponentIdentifier {
  return componentFromItem(parseSfItem(input, { code: 'invalid_argument', field: 'component identifier' }), 'invalid_argument');
}

/**
 * Accepts either an identifier or a string: a string starting with `"` is parsed as a serialized
 * identifier, any other string is a bare component name (`"@method"`, `"content-digest"`).
 */
export function toComponentIdentifier(component: string | ComponentIdentifier): ComponentIdentifier {
  if (typeof component !== 'string') return component;
  if (component.startsWith('"')) return parseComponentIdentifier(component);
  return { name: component, params: {} };
}

function quote(name: string): string {
  return JSON.stringify(name.length > 64 ? name.slice(0, 64) + '…' : name);
}
