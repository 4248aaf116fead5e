/**
 * The Signature-Input and Signature fields (RFC 9421 §4.1, §4.2): SF Dictionaries keyed by signature
 * label. Parsing them yields, per label, the covered components, the signature parameters, the exact
 * `@signature-params` value (§2.3) and the signature bytes.
 */

import { serializeInnerList } from 'structured-headers';
import { AAuthError } from '../errors.js';
import { b64Decode } from '../base64url.js';
import { bytesValue, isInnerList, isSfKey, parseSfDictionary, type Dictionary, type InnerList } from '../structured-fields.js';
import { componentFromItem, type ComponentIdentifier } from './component.js';

/** Signature parameters of RFC 9421 §2.3 with their SF types. Unregistered parameters are kept only in `signatureParams`. */
export interface SignatureParameters {
  /** Creation time, Integer seconds since the epoch. */
  readonly created?: number;
  /** Expiration time, Integer seconds since the epoch. */
  readonly expires?: number;
  readonly nonce?: string;
  /** Parsed and type-checked, never used: the algorithm comes from the key (SK-08; AAuth checklist §8.9). */
  readonly alg?: string;
  readonly keyid?: string;
  readonly tag?: string;
}

/** One labelled signature of a message. */
export interface ParsedSignature {
  readonly label: string;
  readonly components: readonly ComponentIdentifier[];
  readonly params: SignatureParameters;
  /** The `@signature-params` value: the Signature-Input member re-serialized from its parsed Inner List (§2.3, §3.2 step 7). */
  readonly signatureParams: string;
  readonly signature: Uint8Array;
}

const SIGNATURE_INPUT = 'signature-input';
const SIGNATURE = 'signature';

/**
 * Parses every signature of a message. Missing or unparseable fields, a label repeated across field
 * lines, a label present in only one of the two fields, or a member of the wrong SF type →
 * `invalid_request`. A covered component that is malformed (unknown derived name, illegal
 * parameters) → `invalid_signature`.
 */
export function parseSignatures(lines: Map<string, string[]>): Map<string, ParsedSignature> {
  const { inputs, signatures } = readFields(lines);
  const out = new Map<string, ParsedSignature>();
  for (const label of inputs.keys()) out.set(label, toParsed(label, inputs, signatures));
  return out;
}

/**
 * Selects the signature to verify: the one labelled `label`, or, without a label, the only one
 * present. Errors as {@link parseSignatures}; no such label, or several signatures and no label →
 * `invalid_request`. Only the selected member is interpreted, so a foreign signature beside it
 * cannot make the request fail.
 */
export function selectSignature(lines: Map<string, string[]>, label?: string): ParsedSignature {
  const fast = canonicalSignature(lines, label);
  if (fast !== undefined) return fast;
  const { inputs, signatures } = readFields(lines);
  if (label === undefined) {
    if (inputs.size !== 1) {
      throw new AAuthError('invalid_request', { detail: `expected exactly one signature, found ${inputs.size}` });
    }
    for (const only of inputs.keys()) return toParsed(only, inputs, signatures);
  }
  if (label === undefined || !inputs.has(label)) {
    throw new AAuthError('invalid_request', { detail: `no signature labelled "${short(String(label))}"` });
  }
  return toParsed(label, inputs, signatures);
}

const isComponentChar = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x40 || c === 0x5f || c === 0x2e;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * Hot path for the shape AAuth signers send: one field line each, one member each, exactly
 * `label=("c1" "c2" …);created=N[;expires=N]` and `label=:<base64>:`, components plain lowercase names
 * without parameters. In that exact shape the full SF parse would return the same label, components,
 * parameters and bytes, and re-serialize `@signature-params` to the member text itself (RFC 8941 §4.1
 * serializes Inner Lists and Integer parameters exactly so), so it is read without building SF
 * structures. Anything else — including merely equivalent forms — returns `undefined` and takes the full
 * parser. A property test holds the two equal on every input this accepts.
 */
export function canonicalSignature(lines: Map<string, string[]>, label?: string): ParsedSignature | undefined {
  const inputs = lines.get(SIGNATURE_INPUT);
  const sigs = lines.get(SIGNATURE);
  if (inputs?.length !== 1 || sigs?.length !== 1) return undefined;
  const input = inputs[0]!;
  const sig = sigs[0]!;
  const eq = input.indexOf('=');
  if (eq <= 0 || input.length > 4096) return undefined;
  const name = input.slice(0, eq);
  if ((label !== undefined && name !== label) || !isSfKey(name)) return undefined;
  // Components: ("a" "b" ...)
  let i = eq + 1;
  if (input.charCodeAt(i) !== 0x28) return undefined;
  i++;
  const components: ComponentIdentifier[] = [];
  while (input.charCodeAt(i) === 0x22) {
    const start = ++i;
    while (i < input.length && isComponentChar(input.charCodeAt(i))) i++;
    if (i === start || input.charCodeAt(i) !== 0x22) return undefined;
    components.push({ name: input.slice(start, i), params: {} });
    i++;
    // RFC 8941 §3.1.1: items are separated by spaces; the canonical form has exactly one.
    if (input.charCodeAt(i) === 0x20) {
      i++;
      if (input.charCodeAt(i) !== 0x22) return undefined;
    } else if (input.charCodeAt(i) !== 0x29) {
      return undefined;
    }
  }
  if (input.charCodeAt(i) !== 0x29) return undefined;
  i++;
  // Parameters: ;created=N then optionally ;expires=N, nothing else.
  const params: { created?: number; expires?: number } = {};
  for (const key of ['created', 'expires'] as const) {
    if (!input.startsWith(`;${key}=`, i)) {
      if (key === 'created') return undefined;
      break;
    }
    i += key.length + 2;
    const start = i;
    while (i < input.length && isDigit(input.charCodeAt(i))) i++;
    // RFC 8941 §3.3.1: at most 15 digits; no leading zeros beyond a lone 0 in the canonical form.
    if (i === start || i - start > 15 || (input.charCodeAt(start) === 0x30 && i - start > 1)) return undefined;
    params[key] = Number(input.slice(start, i));
  }
  if (i !== input.length) return undefined;
  // Signature: label=:base64:
  if (!sig.startsWith(name) || sig.charCodeAt(eq) !== 0x3d || sig.charCodeAt(eq + 1) !== 0x3a || sig.charCodeAt(sig.length - 1) !== 0x3a) return undefined;
  let signature: Uint8Array;
  try {
    signature = b64Decode(sig.slice(eq + 2, -1));
  } catch {
    return undefined;
  }
  return { label: name, components, params, signatureParams: input.slice(eq + 1), signature };
}

function readFields(lines: Map<string, string[]>): { inputs: Dictionary; signatures: Dictionary } {
  const inputs = readDictionary(lines, SIGNATURE_INPUT, 'Signature-Input');
  const signatures = readDictionary(lines, SIGNATURE, 'Signature');
  // §4: each field MUST contain the same labels; a label in one but not the other is an error.
  if (inputs.size !== signatures.size) throw labelMismatch();
  for (const label of inputs.keys()) if (!signatures.has(label)) throw labelMismatch(label);
  return { inputs, signatures };
}

const labelMismatch = (label?: string): AAuthError =>
  new AAuthError('invalid_request', {
    detail: label === undefined ? 'Signature-Input and Signature carry different labels' : `label "${short(label)}" is in Signature-Input but not in Signature`,
  });

/** Parses each field line as a Dictionary; labels MUST be unique across all lines (§4.1, §4.2). */
function readDictionary(lines: Map<string, string[]>, name: string, display: string): Dictionary {
  const values = lines.get(name);
  if (values === undefined || values.length === 0) {
    throw new AAuthError('invalid_request', { detail: `missing ${display} header` });
  }
  const opts = { code: 'invalid_request' as const, field: display };
  if (values.length === 1) {
    const dict = parseSfDictionary(values[0]!.trim(), opts);
    if (dict.size === 0) throw new AAuthError('invalid_request', { detail: `empty ${display} header` });
    return dict;
  }
  const all: Dictionary = new Map();
  for (const value of values) {
    for (const [k, v] of parseSfDictionary(value.trim(), opts)) {
      if (all.has(k)) throw new AAuthError('invalid_request', { detail: `label "${short(k)}" repeated in ${display}` });
      all.set(k, v);
    }
  }
  if (all.size === 0) throw new AAuthError('invalid_request', { detail: `empty ${display} header` });
  return all;
}

function toParsed(label: string, inputs: Dictionary, signatures: Dictionary): ParsedSignature {
  const input = inputs.get(label);
  const sig = signatures.get(label);
  if (input === undefined || sig === undefined) throw labelMismatch(label);
  if (!isInnerList(input)) {
    throw new AAuthError('invalid_request', { detail: `Signature-Input member "${short(label)}" is not an Inner List` });
  }
  if (isInnerList(sig)) throw new AAuthError('invalid_request', { detail: `Signature member "${short(label)}" is not a Byte Sequence` });
  const signature = bytesValue(sig[0]);
  if (signature === undefined) {
    throw new AAuthError('invalid_request', { detail: `Signature member "${short(label)}" is not a Byte Sequence` });
  }
  const components = input[0].map((item) => {
    if (typeof item[0] !== 'string') {
      throw new AAuthError('invalid_request', { detail: 'a covered component in Signature-Input is not a String' });
    }
    return componentFromItem(item, 'invalid_signature');
  });
  return { label, components, params: signatureParameters(input), signatureParams: serializeParams(input), signature };
}

/** §2.3 types: `created`/`expires` Integers, `nonce`/`alg`/`keyid`/`tag` Strings. A wrong type → `invalid_request`. */
function signatureParameters(input: InnerList): SignatureParameters {
  const out: { -readonly [K in keyof SignatureParameters]: SignatureParameters[K] } = {};
  for (const [k, v] of input[1]) {
    switch (k) {
      case 'created':
      case 'expires':
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw wrongType(k, 'an Integer');
        out[k] = v;
        break;
      case 'nonce':
      case 'alg':
      case 'keyid':
      case 'tag':
        if (typeof v !== 'string') throw wrongType(k, 'a String');
        out[k] = v;
        break;
      default:
        break; // other registered or private parameters are covered via @signature-params only
    }
  }
  return out;
}

const wrongType = (name: string, type: string): AAuthError =>
  new AAuthError('invalid_request', { detail: `signature parameter "${name}" must be ${type}` });

function serializeParams(input: InnerList): string {
  try {
    return serializeInnerList(input);
  } catch (cause) {
    throw new AAuthError('invalid_request', { detail: 'Signature-Input member cannot be re-serialized', cause });
  }
}

function short(s: string): string {
  return s.length > 32 ? s.slice(0, 32) + '…' : s;
}
