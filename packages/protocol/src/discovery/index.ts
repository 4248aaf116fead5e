export type { DiscoveredMetadata, FetchMetadataOptions, MetadataCacheOptions } from './metadata-client.js';
export {
  DEFAULT_METADATA_MAX_BYTES,
  MetadataCache,
  fetchMetadata,
  fetchMetadataJson,
  interpretMetadata,
  isPlainDocumentName,
  wellKnownUrl,
} from './metadata-client.js';
export type { GetKeyOptions, JwksCacheOptions } from './jwks-cache.js';
export { JwksCache } from './jwks-cache.js';
export type { KeyResolverOptions } from './key-resolver.js';
export { createKeyResolver } from './key-resolver.js';
