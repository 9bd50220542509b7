/** Helpers shared by the pure usage extractors (no I/O, no SDK state). */

import { type Dec, parseDec, pow10, toWireDecimal } from "../decimal.js";
import type { Usage } from "../fields.js";

/** `obj[name]` for whatever shape a provider SDK hands us (undefined when absent or null). */
export function g(obj: unknown, name: string): unknown {
  if (obj === null || obj === undefined || typeof obj !== "object") return undefined;
  const value = (obj as Record<string, unknown>)[name];
  return value === null ? undefined : value;
}

/** An integer count (0 when absent or malformed). */
export function n(obj: unknown, name: string): number {
  const value = g(obj, name);
  if (typeof value === "number" && Number.isFinite(value)) return Math.max(0, Math.trunc(value));
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  return 0;
}

const NUM_RE = /^(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/**
 * A non-negative decimal from a provider-reported number or string. A JS number is read from
 * its shortest printed form (as Python reads str(float)), exponent form included: no float
 * arithmetic touches it.
 */
export function dec(value: unknown): Dec | null {
  if (typeof value !== "number" && typeof value !== "string" && typeof value !== "bigint") return null;
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  const m = NUM_RE.exec(String(value).trim());
  if (m === null) return null;
  const frac = m[2] ?? "";
  const exp = m[3] === undefined ? 0 : Number(m[3]);
  const c = BigInt((m[1] ?? "0") + frac);
  const s = frac.length - exp;
  return s >= 0 ? { c, s } : { c: c * pow10(-s), s: 0 };
}

const TEXT = new Set(["image_size", "image_quality"]);

/** Drop zero fields, clamp negatives, keep reasoning within output (the wire's invariant). */
export function clean(usage: Record<string, unknown>): Usage {
  const out: Usage = {};
  for (const key in usage) {
    const value = usage[key];
    if (TEXT.has(key)) {
      if (value) out[key] = String(value).slice(0, 32);
    } else if (key === "audio_seconds") {
      const d = dec(value);
      if (d !== null && d.c !== 0n) out[key] = toWireDecimal(d);
    } else {
      const count = Math.max(0, Math.trunc(Number(value ?? 0)));
      if (count) out[key] = count;
    }
  }
  const reasoning = (out.reasoning_tokens as number | undefined) ?? 0;
  const output = (out.output_tokens as number | undefined) ?? 0;
  if (reasoning > output) {
    if (output) out.reasoning_tokens = output;
    else delete out.reasoning_tokens;
  }
  return out;
}

export { parseDec };
