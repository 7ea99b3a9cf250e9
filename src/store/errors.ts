/**
 * How a caller tells "the store is unreachable or overloaded, try again shortly" from everything else (a bug).
 * The adapters know their own errors: the memory adapter throws StoreUnavailableError when made unreachable;
 * the Redis adapter's errors are ioredis' (recognised here by class name and message, so nothing outside
 * src/store needs to know them).
 */

/** The store cannot answer now (unreachable, timed out, failing over); the request may be retried. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message = 'store unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** ioredis error classes that mean "no answer from Redis" (names, since ioredis does not export the classes). */
const UNAVAILABLE_CLASSES = new Set([
  'StoreUnavailableError',
  // ioredis: a command was retried maxRetriesPerRequest times across reconnects
  'MaxRetriesPerRequestError',
  // ioredis Cluster: no node answered (slots refresh, connect)
  'ClusterAllFailedError',
]);

/** ioredis errors without a class of their own, by message. */
const UNAVAILABLE_MESSAGES = [
  /^Connection is closed\.?$/,
  /^Stream isn't writeable and enableOfflineQueue options is false$/,
  /^Cluster isn't ready and enableOfflineQueue options is false$/,
  /^Command timed out$/,
  /^connect ETIMEDOUT$/,
  /^Socket timeout\./,
  /^None of startup nodes is available$/,
  /^Cluster is (disconnected|disconnecting|ended)\.$/,
  /^Node is disconnected$/,
  /^Connection is (discarded|aborted)/,
  /^Too many Cluster redirections/,
];

/** Redis replies that mean "not now" (loading, busy script, failover, out of memory), not "wrong command". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS|OOM)\b/;

/** Socket-level failures (errno codes) surfaced by a client. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** True when err says the store could not answer (retry later); false for anything else (a bug, a bad call). */
export function isStoreUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  if (UNAVAILABLE_CLASSES.has(err.name)) return true;
  if (err.name === 'ReplyError') return UNAVAILABLE_REPLY.test(err.message);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return UNAVAILABLE_MESSAGES.some((re) => re.test(err.message));
}

/** The cold tier cannot answer now (directory unwritable, disk full, S3 unreachable): queue and retry. */
export class ColdTierUnavailableError extends Error {
  override readonly name = 'ColdTierUnavailableError';
  constructor(message = 'cold tier unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}
