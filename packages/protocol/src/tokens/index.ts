/** The AAuth token kinds: mint, verify, cache. */
export type { Audience, CommonClaims, Confirmation, KnownClaims, MintClaims, Minted, MintOptions, TokenTyp } from './claims.js';
export { DWK, MAX_LIFETIME, TOKEN_TYPS, audienceIncludes, audienceList } from './claims.js';
export type { DecodedJws, DecodeJwsOptions, JwsHeader, JwsHeaderInput } from './jws.js';
export { MAX_JWS_LENGTH, decodeJws, signJws, verifyJwsSignature } from './jws.js';
export type { AgentTokenClaims } from './agent-token.js';
export { AGENT_TOKEN_TYP, checkAgentTokenClaims, mintAgentToken } from './agent-token.js';
export type { PersonTokenClaims } from './person-token.js';
export { PERSON_TOKEN_TYP, checkPersonTokenClaims, mintPersonToken, mintPersonTokenWithClaims } from './person-token.js';
export type { ResourceTokenClaims } from './resource-token.js';
export { RESOURCE_TOKEN_TYP, checkResourceTokenClaims, mintResourceToken } from './resource-token.js';
export type { AuthTokenClaims } from './auth-token.js';
export { AUTH_TOKEN_TYP, checkAuthTokenClaims, mintAuthToken, mintAuthTokenWithClaims } from './auth-token.js';
export type { JktMintClaims, JktTokenClaims } from './jkt-token.js';
export { JKT_S256_PREFIX, JKT_TOKEN_TYP, checkJktTokenClaims, jktIssuerJwk, mintJktToken } from './jkt-token.js';
export type {
  KeyResolver,
  VerifiedAgentToken,
  VerifiedAuthToken,
  VerifiedJktToken,
  VerifiedPersonToken,
  VerifiedResourceToken,
  VerifiedToken,
  VerifiedTokenMap,
  VerifyTokenOptions,
} from './verify-token.js';
export { DEFAULT_IAT_SKEW, tokenProblemCode, verifyToken } from './verify-token.js';
export type { VerifiedTokenCacheOptions } from './token-cache.js';
export { VerifiedTokenCache } from './token-cache.js';
