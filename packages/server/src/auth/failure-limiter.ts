/**
 * A small fixed-window failure counter (sign-in attempts per username and address, interaction codes per
 * session). An object the app factory constructs: no module-level state. In memory, per instance; bounded.
 */

export interface FailureLimiterOptions {
  /** Failures allowed within the window; the next attempt is refused. */
  readonly maxFailures: number;
  /** Window length, seconds. */
  readonly windowSeconds: number;
  /** Epoch seconds. */
  readonly now: () => number;
  /** Most keys kept; the oldest windows are dropped first. Default 10 000. */
  readonly maxKeys?: number;
}

export interface FailureLimiter {
  /** Whether `key` has used up its failures in the current window. */
  isLimited(key: string): boolean;
  /** Counts a failure; returns true when `key` is now limited. */
  fail(key: string): boolean;
  /** Forgets `key` (after a success). */
  reset(key: string): void;
}

interface Window {
  start: number;
  failures: number;
}

export function createFailureLimiter(options: FailureLimiterOptions): FailureLimiter {
  const windows = new Map<string, Window>();
  const maxKeys = options.maxKeys ?? 10_000;

  const current = (key: string): Window | undefined => {
    const w = windows.get(key);
    if (w && options.now() - w.start >= options.windowSeconds) {
      windows.delete(key);
      return undefined;
    }
    return w;
  };

  const prune = (): void => {
    const now = options.now();
    for (const [key, w] of windows) if (now - w.start >= options.windowSeconds) windows.delete(key);
    // Map iteration is insertion order: drop the oldest until under the cap.
    for (const key of windows.keys()) {
      if (windows.size < maxKeys) break;
      windows.delete(key);
    }
  };

  return {
    isLimited: (key) => (current(key)?.failures ?? 0) >= options.maxFailures,
    fail(key) {
      let w = current(key);
      if (!w) {
        if (windows.size >= maxKeys) prune();
        w = { start: options.now(), failures: 0 };
        windows.set(key, w);
      }
      w.failures += 1;
      return w.failures >= options.maxFailures;
    },
    reset: (key) => {
      windows.delete(key);
    },
  };
}
