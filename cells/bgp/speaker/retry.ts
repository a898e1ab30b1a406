// The connect-retry wait: exponential from about a second, capped at the neighbor's
// ConnectRetryTime, jittered (RFC 4271 §10 asks for jitter so peers do not retry in step).
import { backoffDelay } from '../../../core/hive/backoff.js';

/** The first retry wait; doubles per failed attempt. */
export const FIRST_RETRY_MS = 1000;

/** The wait before retry `attempt` (0-based), ±25 % jitter, never above the cap. */
export function retryDelayMs(attempt: number, connectRetrySec: number, rand = Math.random): number {
  const cap = Math.max(connectRetrySec * 1000, 1);
  const base = backoffDelay({ minMs: Math.min(FIRST_RETRY_MS, cap), maxMs: cap }, attempt);
  return Math.min(cap, Math.round(base * (0.75 + rand() * 0.5)));
}
