/**
 * Vercel AI SDK usage → normalised usage. The provider's own usage object (`usage.raw`, which the
 * AI SDK passes on) is read with the same extractor as a wrapped client of that provider, so
 * cache TTLs, thinking and tool counts are exact; without it the AI SDK's own fields are mapped
 * (spec v3/v4 `{inputTokens: {total, noCache, cacheRead, cacheWrite}, outputTokens: {total,
 * reasoning}}`, the `ai` result's `inputTokenDetails`, and spec v2's flat counts).
 */

import type { Usage } from "../fields.js";
import { messagesUsage } from "./anthropic.js";
import { converseUsage } from "./bedrock.js";
import { clean, g, n } from "./common.js";
import { generateUsage } from "./gemini.js";
import { chatUsage, responsesUsage } from "./openai.js";

const PROVIDER_IDS: Record<string, string> = {
  google: "gemini",
  "google-vertex": "vertex_ai",
  vertex: "vertex_ai",
  "amazon-bedrock": "bedrock",
  bedrock: "bedrock",
  togetherai: "together",
  azure: "azure",
};

/** The CostObs provider of an AI SDK model's `provider` id ("openai.chat", "google.generative-ai"…). */
export function providerOf(id: string): string {
  const lower = id.toLowerCase();
  if (lower.startsWith("google.vertex")) return "vertex_ai";
  const head = lower.split(".")[0] ?? lower;
  return PROVIDER_IDS[head] ?? head;
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, Math.trunc(value)) : 0;
}

function fromRaw(provider: string, raw: unknown): Usage | null {
  if (raw === null || typeof raw !== "object") return null;
  if (provider === "anthropic" && g(raw, "input_tokens") !== undefined) return messagesUsage(raw);
  if (g(raw, "prompt_tokens") !== undefined) return chatUsage(raw, provider)[0];
  if ((provider === "openai" || provider === "azure") && g(raw, "input_tokens") !== undefined) return responsesUsage(raw);
  if ((provider === "gemini" || provider === "vertex_ai") && g(raw, "promptTokenCount") !== undefined) return generateUsage(raw);
  if (provider === "bedrock" && g(raw, "inputTokens") !== undefined) return converseUsage(raw);
  return null;
}

export function aiUsage(provider: string, usage: unknown): Usage {
  const exact = fromRaw(provider, g(usage, "raw"));
  if (exact !== null) return exact;
  const input = g(usage, "inputTokens");
  const output = g(usage, "outputTokens");
  let total: number;
  let noCache: number | null;
  let cacheRead: number;
  let cacheWrite: number;
  let out: number;
  let reasoning: number;
  if (input !== null && typeof input === "object") {
    total = n(input, "total");
    noCache = g(input, "noCache") === undefined ? null : n(input, "noCache");
    cacheRead = n(input, "cacheRead");
    cacheWrite = n(input, "cacheWrite");
    out = n(output, "total");
    reasoning = n(output, "reasoning");
  } else {
    const details = g(usage, "inputTokenDetails");
    total = num(input);
    noCache = g(details, "noCacheTokens") === undefined ? null : n(details, "noCacheTokens");
    cacheRead = n(details, "cacheReadTokens") || n(usage, "cachedInputTokens");
    cacheWrite = n(details, "cacheWriteTokens");
    out = num(output);
    reasoning = n(g(usage, "outputTokenDetails"), "reasoningTokens") || n(usage, "reasoningTokens");
  }
  const writeField = provider === "openai" || provider === "azure" ? "cache_write_30m_tokens" : "cache_write_5m_tokens";
  return clean({
    input_tokens: noCache ?? Math.max(0, total - cacheRead - cacheWrite),
    cached_input_tokens: cacheRead,
    [writeField]: cacheWrite,
    output_tokens: out,
    reasoning_tokens: reasoning,
  });
}
