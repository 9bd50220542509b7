/** Anthropic Messages usage → normalised usage (streamed: latest value per field, never summed). */

import type { Usage } from "../fields.js";
import { clean, g, n } from "./common.js";

/** Fields of Anthropic's usage object that a streamed `message_delta` may update. */
const FIELDS = [
  "input_tokens",
  "output_tokens",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
  "cache_creation",
  "server_tool_use",
  "output_tokens_details",
  "service_tier",
  "inference_geo",
];

/** Keep the latest non-null value of each usage field (deltas are cumulative). */
export function mergeLatest(state: Record<string, unknown>, usage: unknown): void {
  for (const name of FIELDS) {
    const value = g(usage, name);
    if (value !== undefined) state[name] = value;
  }
}

/** `Message.usage` (or the merged streamed state) → normalised usage. */
export function messagesUsage(usage: unknown): Usage {
  const creation = n(usage, "cache_creation_input_tokens");
  const details = g(usage, "cache_creation");
  const w1h = n(details, "ephemeral_1h_input_tokens");
  let w5m = n(details, "ephemeral_5m_input_tokens");
  if (details === undefined || w1h + w5m < creation) w5m = Math.max(w5m, creation - w1h);
  const stu = g(usage, "server_tool_use");
  return clean({
    input_tokens: n(usage, "input_tokens"),
    cached_input_tokens: n(usage, "cache_read_input_tokens"),
    cache_write_5m_tokens: w5m,
    cache_write_1h_tokens: w1h,
    output_tokens: n(usage, "output_tokens"),
    reasoning_tokens: n(g(usage, "output_tokens_details"), "thinking_tokens"),
    web_search_requests: n(stu, "web_search_requests"),
    tool_requests: n(stu, "web_fetch_requests") + n(stu, "code_execution_requests"),
  });
}

export function tier(usage: unknown): string | null {
  const value = g(usage, "service_tier");
  return value ? String(value) : null;
}

export function region(usage: unknown): string | null {
  const value = g(usage, "inference_geo");
  return value ? String(value) : null;
}
