/** Billing dimensions: rate keys of the price table and the usage fields they price. */

/** rate key → [usage field it prices, units per published rate], in breakdown order. */
export const RATE_KEYS: ReadonlyArray<readonly [string, string, number]> = [
  ["input", "input_tokens", 1_000_000],
  ["cached_input", "cached_input_tokens", 1_000_000],
  ["cache_write_5m", "cache_write_5m_tokens", 1_000_000],
  ["cache_write_1h", "cache_write_1h_tokens", 1_000_000],
  ["cache_write_30m", "cache_write_30m_tokens", 1_000_000],
  ["cache_write_12h", "cache_write_12h_tokens", 1_000_000],
  ["output", "output_tokens", 1_000_000],
  ["reasoning", "reasoning_tokens", 1_000_000],
  ["audio_input", "audio_input_tokens", 1_000_000],
  ["audio_output", "audio_output_tokens", 1_000_000],
  ["image_input", "image_input_tokens", 1_000_000],
  ["image_output", "image_output_tokens", 1_000_000],
  ["audio_per_second", "audio_seconds", 1],
  ["audio_per_minute", "audio_seconds", 60],
  ["audio_per_hour", "audio_seconds", 3600],
  ["characters_per_1m", "characters", 1_000_000],
  ["characters_per_1k", "characters", 1_000],
  ["web_search_per_1k", "web_search_requests", 1_000],
  ["tool_per_1k", "tool_requests", 1_000],
  ["requests_per_1k", "requests", 1_000],
  ["per_request", "requests", 1],
];
export const RATE_KEY_SET: ReadonlySet<string> = new Set(RATE_KEYS.map((k) => k[0]));

/** Token dimensions: the ones service-tier multipliers (batch, flex, priority) apply to. */
export const TOKEN_RATE_KEYS: ReadonlySet<string> = new Set([
  "input",
  "cached_input",
  "cache_write_5m",
  "cache_write_1h",
  "cache_write_30m",
  "cache_write_12h",
  "output",
  "reasoning",
  "audio_input",
  "audio_output",
  "image_input",
  "image_output",
]);

/** What counts as "the prompt" for long-context thresholds: every kind of input. */
export const PROMPT_FIELDS: ReadonlySet<string> = new Set([
  "input_tokens",
  "cached_input_tokens",
  "cache_write_5m_tokens",
  "cache_write_1h_tokens",
  "cache_write_30m_tokens",
  "cache_write_12h_tokens",
  "audio_input_tokens",
  "image_input_tokens",
]);
