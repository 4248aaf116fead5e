/** AAuth and HTTP Signature Keys response and request headers, parsed and built as Structured Fields where they are ones. */
export * from './aauth-requirement.js';
export * from './aauth-access.js';
export * from './aauth-capabilities.js';
export * from './prefer.js';
export * from './signature-error.js';
