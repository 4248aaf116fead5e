export {
  DERIVED_COMPONENTS,
  componentKey,
  isFieldComponentName,
  parseComponentIdentifier,
  sameComponent,
  serializeComponentIdentifier,
  toComponentIdentifier,
  validateComponentIdentifier,
  type ComponentIdentifier,
  type ComponentParams,
} from './component.js';
export {
  KNOWN_STRUCTURED_FIELDS,
  SignatureContext,
  type SignatureContextOptions,
  type StructuredFieldType,
} from './component-value.js';
export { createSignatureBase, signatureBaseBytes } from './signature-base.js';
export { canonicalSignature, parseSignatures, selectSignature, type ParsedSignature, type SignatureParameters } from './signature-input.js';
export { signMessage, type SignMessageOptions, type SignedMessage } from './sign.js';
export {
  DEFAULT_SIGNATURE_WINDOW,
  checkSignatureTime,
  requireComponents,
  verifyMessageSignature,
  verifySignatureWith,
  type Now,
  type SignatureTimeOptions,
  type SignatureVerifier,
  type VerifyMessageSignatureOptions,
} from './verify.js';
