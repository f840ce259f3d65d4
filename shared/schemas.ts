// The HTTP contract (shared/http/), under the name older imports use: new code imports shared/http.
export * from './http';
