// What activities are given rather than reach for: config, clock, HTTP client, logger, metrics.
import type { ConfigIndex } from '../shared/config';
import type { Logger } from '../shared/logger';
import type { Metrics } from '../shared/metrics';
import type { HttpClient } from './http';

export interface ActivityDeps {
  /** The current routing config (a function, so a reload is seen by the next activity). */
  config: () => ConfigIndex;
  http: HttpClient;
  now: () => Date;
  logger: Logger;
  metrics?: Metrics;
}
