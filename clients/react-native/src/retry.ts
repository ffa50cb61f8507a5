// The seed's retry policy: RATE_LIMITED waits the server's Retry-After (5 s)
// once; INTERNAL_ERROR and NETWORK_ERROR retry 3 times with exponential
// backoff and jitter; the others never. SERVICE_UNAVAILABLE (a database
// outage, which the seed does not name) is treated like RATE_LIMITED: the
// server says when to come back, and TIMEOUT (the host cut off a component
// that did not answer) like INTERNAL_ERROR. Backoff retries apply only to
// operations that are safe to send twice: after a lost answer (or a TIMEOUT,
// which may hide a request that ran) a resent call-initiate would meet its
// own first call. Its one wait retry after a 503 carries the first attempt's
// Idempotency-Key (client.ts), so the server answers with that call.
import { RETRY_AFTER_CODES } from "./errors.js";
import type { ErrorCode, KitError } from "./errors.js";

/** The codes retried with backoff, on operations safe to send twice. */
export const BACKOFF_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["INTERNAL_ERROR", "TIMEOUT", "NETWORK_ERROR"]);

export interface RetryOptions {
  /** Backoff retries for INTERNAL_ERROR, TIMEOUT and NETWORK_ERROR. */
  maxRetries: number;
  /** The first backoff delay; each next one doubles. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Waits for RATE_LIMITED and SERVICE_UNAVAILABLE when the server names none. */
  defaultRetryAfterSeconds: number;
  /** A longer Retry-After is not waited for: the error goes to the app. */
  maxRetryAfterSeconds: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxRetries: 3,
  baseDelayMs: 500,
  maxDelayMs: 8000,
  defaultRetryAfterSeconds: 5,
  maxRetryAfterSeconds: 30,
};

/** What was retried so far in one logical request. */
export interface RetryHistory {
  backoffRetries: number;
  waitRetries: number;
}

/** How long to wait before the next attempt, or null to give up. `random`
 * returns [0, 1): the jitter keeps a crowd of apps from retrying in step. */
export function retryDelayMs(
  error: KitError,
  history: RetryHistory,
  idempotent: boolean,
  options: RetryOptions,
  random: () => number,
): number | null {
  if (RETRY_AFTER_CODES.has(error.code)) {
    if (history.waitRetries >= 1) return null;
    // A gateway's bare 502 may hide a request that did run: resend only
    // what is safe to. The service's own outage answer is a 503.
    if (error.code === "SERVICE_UNAVAILABLE" && !idempotent && error.httpStatus !== 503) return null;
    const seconds = error.retryAfterSeconds ?? options.defaultRetryAfterSeconds;
    return seconds > options.maxRetryAfterSeconds ? null : seconds * 1000;
  }
  if (BACKOFF_CODES.has(error.code)) {
    if (!idempotent || history.backoffRetries >= options.maxRetries) return null;
    return backoffMs(history.backoffRetries, options, random);
  }
  return null;
}

/** Counts a retry that `retryDelayMs` allowed for `error`. */
export function recordRetry(history: RetryHistory, error: KitError): void {
  if (RETRY_AFTER_CODES.has(error.code)) history.waitRetries++;
  else history.backoffRetries++;
}

/** "Equal jitter": half the exponential delay fixed, half random. */
export function backoffMs(retry: number, options: RetryOptions, random: () => number): number {
  const exponential = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
