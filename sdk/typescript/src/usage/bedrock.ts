/** Bedrock Converse usage and model ids → normalised usage (as sdk/python/costobs/_usage/bedrock.py). */

import type { Usage } from "../fields.js";
import { clean, g, n } from "./common.js";

const GEO_PREFIXES = new Set(["us-gov", "us", "eu", "apac", "au", "ca", "jp", "global"]);

/** `inputTokens` is uncached input only; cache reads/writes are reported beside it. */
export function converseUsage(usage: unknown): Usage {
  const write = n(usage, "cacheWriteInputTokens");
  let w5m = 0;
  let w1h = 0;
  const details = g(usage, "cacheDetails");
  for (const detail of Array.isArray(details) ? details : []) {
    if (String(g(detail, "ttl") ?? "") === "1h") w1h += n(detail, "inputTokens");
    else w5m += n(detail, "inputTokens");
  }
  w5m += Math.max(0, write - w5m - w1h);
  return clean({
    input_tokens: n(usage, "inputTokens"),
    cached_input_tokens: n(usage, "cacheReadInputTokens"),
    cache_write_5m_tokens: w5m,
    cache_write_1h_tokens: w1h,
    output_tokens: n(usage, "outputTokens"),
  });
}

/** [model, geo] from a model id, inference profile id or ARN (application profiles via aliases). */
export function resolveModel(modelId: string, aliases: Record<string, string> = {}): [string, string | null] {
  let id = aliases[modelId] ?? modelId;
  if (id.startsWith("arn:")) {
    const resource = id.split(":").slice(5).join(":");
    const slash = resource.indexOf("/");
    const kind = slash >= 0 ? resource.slice(0, slash) : resource;
    const rest = slash >= 0 ? resource.slice(slash + 1) : "";
    if ((kind === "foundation-model" || kind === "inference-profile") && rest) id = rest;
    else return [id, null];
  }
  const dot = id.indexOf(".");
  if (dot > 0) {
    const head = id.slice(0, dot);
    const rest = id.slice(dot + 1);
    if (GEO_PREFIXES.has(head) && rest.includes(".")) return [rest, head];
  }
  return [id, null];
}
