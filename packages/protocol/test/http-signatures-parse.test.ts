/**
 * Signature-Input and Signature parsing (RFC 9421 §4): labels, several signatures, types of the
 * signature parameters (§2.3), the re-serialized @signature-params value, and error codes
 * (`invalid_request` for malformed or missing fields, `invalid_signature` for malformed components).
 */
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { headerLines } from '../src/http-message.js';
import { parseSignatures, selectSignature } from '../src/http-signatures/index.js';

const lines = (...pairs: [string, string][]) => headerLines(pairs);
const SIG = ':AAEC:';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AAuthError);
    return (e as AAuthError).code;
  }
  return undefined;
}

describe('parseSignatures / selectSignature', () => {
  it('parses several signatures across field lines and selects by label', () => {
    const l = lines(
      ['Signature-Input', 'a=("@method");created=1'],
      ['Signature-Input', 'b=("@path" "x";key="k");created=2;expires=3;nonce="n";keyid="k";tag="t";alg="ed25519"'],
      ['Signature', `a=${SIG}, b=:BAUG:`],
    );
    const all = parseSignatures(l);
    expect([...all.keys()]).toEqual(['a', 'b']);
    const b = selectSignature(l, 'b');
    expect(b.params).toEqual({ created: 2, expires: 3, nonce: 'n', keyid: 'k', tag: 't', alg: 'ed25519' });
    expect(b.components).toEqual([
      { name: '@path', params: {} },
      { name: 'x', params: { key: 'k' } },
    ]);
    expect([...b.signature]).toEqual([4, 5, 6]);
    expect(b.signatureParams).toBe('("@path" "x";key="k");created=2;expires=3;nonce="n";keyid="k";tag="t";alg="ed25519"');
  });

  it('re-serializes @signature-params strictly (§2.3) and keeps parameter order and unknown parameters', () => {
    const l = lines(['Signature-Input', 'sig=(  "@method"   "@path" );keyid="k";created=5;foo=bar'], ['Signature', `sig=${SIG}`]);
    const s = selectSignature(l);
    expect(s.signatureParams).toBe('("@method" "@path");keyid="k";created=5;foo=bar');
    expect(s.params).toEqual({ keyid: 'k', created: 5 });
  });

  it('an empty covered-component list is allowed (B.2.1)', () => {
    const s = selectSignature(lines(['Signature-Input', 'sig=();created=1'], ['Signature', `sig=${SIG}`]));
    expect(s.components).toEqual([]);
    expect(s.signatureParams).toBe('();created=1');
  });

  it.each<[string, [string, string][]]>([
    ['no fields', []],
    ['no Signature', [['Signature-Input', 'sig=();created=1']]],
    ['no Signature-Input', [['Signature', `sig=${SIG}`]]],
    ['unparseable Signature-Input', [['Signature-Input', 'sig=(;'], ['Signature', `sig=${SIG}`]]],
    ['unparseable Signature', [['Signature-Input', 'sig=()'], ['Signature', 'sig=:!!:']]],
    ['label only in Signature-Input', [['Signature-Input', 'sig=(), other=()'], ['Signature', `sig=${SIG}`]]],
    ['label only in Signature', [['Signature-Input', 'sig=()'], ['Signature', `sig=${SIG}, other=${SIG}`]]],
    ['different labels', [['Signature-Input', 'a=()'], ['Signature', `b=${SIG}`]]],
    ['label repeated across lines', [['Signature-Input', 'sig=()'], ['Signature-Input', 'sig=()'], ['Signature', `sig=${SIG}`]]],
    ['Signature-Input member not an Inner List', [['Signature-Input', 'sig="x"'], ['Signature', `sig=${SIG}`]]],
    ['Signature member not a Byte Sequence', [['Signature-Input', 'sig=()'], ['Signature', 'sig="abc"']]],
    ['Signature member an Inner List', [['Signature-Input', 'sig=()'], ['Signature', `sig=(${SIG})`]]],
    ['created not an Integer', [['Signature-Input', 'sig=();created="1"'], ['Signature', `sig=${SIG}`]]],
    ['created a Decimal', [['Signature-Input', 'sig=();created=1.5'], ['Signature', `sig=${SIG}`]]],
    ['expires a Token', [['Signature-Input', 'sig=();expires=x'], ['Signature', `sig=${SIG}`]]],
    ['keyid a Token', [['Signature-Input', 'sig=();keyid=k'], ['Signature', `sig=${SIG}`]]],
    ['nonce an Integer', [['Signature-Input', 'sig=();nonce=1'], ['Signature', `sig=${SIG}`]]],
    ['tag a Boolean', [['Signature-Input', 'sig=();tag'], ['Signature', `sig=${SIG}`]]],
    ['alg a Byte Sequence', [['Signature-Input', 'sig=();alg=:AA==:'], ['Signature', `sig=${SIG}`]]],
    ['covered component a Token', [['Signature-Input', 'sig=(method)'], ['Signature', `sig=${SIG}`]]],
  ])('[§8.3] %s → invalid_request', (_name, pairs) => {
    const l = lines(...pairs);
    expect(codeOf(() => parseSignatures(l))).toBe('invalid_request');
    expect(codeOf(() => selectSignature(l, 'sig'))).toBe('invalid_request');
  });

  it('an absent label, or several signatures and no label → invalid_request', () => {
    const l = lines(['Signature-Input', 'a=(), b=()'], ['Signature', `a=${SIG}, b=${SIG}`]);
    expect(codeOf(() => selectSignature(l, 'sig'))).toBe('invalid_request');
    expect(codeOf(() => selectSignature(l))).toBe('invalid_request');
  });

  it.each([
    ['unknown derived component', 'sig=("@nope")'],
    ['illegal parameter combination', 'sig=("x";bs;sf)'],
    ['unknown component parameter', 'sig=("x";zzz)'],
    ['uppercase field name', 'sig=("Content-Type")'],
    ['@signature-params covered', 'sig=("@signature-params")'],
  ])('%s → invalid_signature', (_name, input) => {
    expect(codeOf(() => selectSignature(lines(['Signature-Input', input], ['Signature', `sig=${SIG}`]), 'sig'))).toBe('invalid_signature');
  });

  it('only the selected member is interpreted: a foreign signature with odd components does not break it', () => {
    const l = lines(['Signature-Input', 'sig=("@method");created=1, other=("@future-thing")'], ['Signature', `sig=${SIG}, other=${SIG}`]);
    expect(selectSignature(l, 'sig').components).toEqual([{ name: '@method', params: {} }]);
  });
});
