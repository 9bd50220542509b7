/** The wire's normalised usage fields (sdk/wire-schema.v1.json `Usage`), in one place. */

export const COUNT_FIELDS: ReadonlySet<string> = new Set([
  "input_tokens",
  "cached_input_tokens",
  "cache_write_5m_tokens",
  "cache_write_1h_tokens",
  "cache_write_30m_tokens",
  "cache_write_12h_tokens",
  "output_tokens",
  "reasoning_tokens",
  "audio_input_tokens",
  "audio_output_tokens",
  "image_input_tokens",
  "image_output_tokens",
  "images",
  "characters",
  "web_search_requests",
  "tool_requests",
  "requests",
]);
export const DECIMAL_FIELDS: ReadonlySet<string> = new Set(["audio_seconds"]);
export const TEXT_FIELDS: ReadonlySet<string> = new Set(["image_size", "image_quality"]);
export const USAGE_FIELDS: ReadonlySet<string> = new Set([...COUNT_FIELDS, ...DECIMAL_FIELDS, ...TEXT_FIELDS]);

/** Normalised usage as it goes on the wire: counts as integers, audio_seconds as a decimal string. */
export type Usage = Partial<Record<string, number | string>>;
