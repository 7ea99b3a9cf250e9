/**
 * Shared start-up for the entry points: config from file + env, the root logger, metrics,
 * and orderly shutdown on SIGINT/SIGTERM. Only files in workers/ read the environment.
 */
import { type Config, ConfigError, loadConfig } from '../src/config.js';
import { type Logger, createLogger } from '../src/log.js';
import { type Metrics, createMetrics } from '../src/metrics.js';

export interface Runtime {
  config: Config;
  log: Logger;
  metrics: Metrics;
  onShutdown(fn: () => Promise<void>): void;
}

export function bootstrap(name: string): Runtime {
  let config: Config;
  try {
    config = loadConfig(process.env.WELLSPRING_CONFIG, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, name);
  const metrics = createMetrics();
  const hooks: Array<() => Promise<void>> = [];
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) process.exit(1); // a second signal forces
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    for (const fn of hooks.reverse())
      await fn().catch((err: unknown) => log.error({ err }, 'shutdown step failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  return {
    config,
    log,
    metrics,
    onShutdown(fn) {
      hooks.push(fn);
    },
  };
}
