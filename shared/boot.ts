// What the gateway and the worker do first: read the environment, open the log, load the routing config,
// connect to MongoDB and make the metrics registry.
import { ConfigIndex, loadRoutingConfig } from './config';
import { connectMongo } from './db';
import { readEnv } from './env';
import { createLogger } from './logger';
import { unknownMacros } from './macros';
import { createMetrics } from './metrics';

export async function boot(role: 'gateway' | 'worker') {
  const env = readEnv();
  const logger = createLogger(role, env.LOG_LEVEL);
  if (!env.MONGODB_URI)
    throw new Error('MONGODB_URI is required (npm run dev starts a local server and sets it)');
  const config = new ConfigIndex(loadRoutingConfig(env.ROUTING_CONFIG));
  for (const warning of unknownMacros(config.config.sources)) logger.warn(warning);
  await connectMongo(env.MONGODB_URI, { logger });
  return { env, logger, config, metrics: createMetrics() };
}
