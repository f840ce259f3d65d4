// The HTTP contract in one import: every request and response schema of the gateway, for its routes, the
// OpenAPI document and the CLI alike. One file per area.
export * from './admin';
export * from './common';
export * from './leads';
export * from './postbacks';
export * from './reports';
export * from './outbox';
export * from './suppressions';
export * from './probes';
export * from './ping';
