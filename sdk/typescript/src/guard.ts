/**
 * Never-raise guard: an SDK error is counted and logged once, and never reaches the caller.
 * Tests install `configure({ onInternalError })` to re-throw what was swallowed.
 */

import { settings } from "./config.js";
import { COUNTERS } from "./stats.js";

const logged = new Set<string>();

export function report(error: unknown): void {
  COUNTERS.internalErrors += 1;
  const key = String(error).slice(0, 200);
  if (!logged.has(key) && logged.size < 100) {
    logged.add(key);
    console.warn("costobs: internal error (the provider call is unaffected)", error);
  }
  const hook = settings().onInternalError;
  if (hook !== null) {
    try {
      hook(error);
    } catch {
      // a debug hook that throws must not break the caller either
    }
  }
}

export function safe<R>(fn: () => R): R | undefined {
  try {
    return fn();
  } catch (error) {
    report(error);
    return undefined;
  }
}
