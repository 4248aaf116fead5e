export type { IpAddress, IpCategory } from './ip-address.js';
export { classifyIp, isLocalhostName, isLoopbackHost, isSiteLocalName, parseIpAddress, parseIpv4, parseIpv6 } from './ip-address.js';
export type { EgressPolicy, ResolvedEgressPolicy } from './egress-policy.js';
export {
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_TIMEOUT_MS,
  admitUrl,
  isAddressAdmitted,
  isCategoryAdmitted,
  isHostAllowlisted,
  normalizeHost,
  resolveEgressPolicy,
} from './egress-policy.js';
export type { FetchLike, GuardedFetchOptions, HostResolver } from './guarded-fetch.js';
export { admitResolvedHost, bufferedResponse, createGuardedFetch, readBodyCapped } from './guarded-fetch.js';
