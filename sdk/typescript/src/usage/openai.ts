/** OpenAI and OpenAI-compatible response shapes → normalised usage (as sdk/python/costobs/_usage/openai.py). */

import { type Dec, divide } from "../decimal.js";
import type { Usage } from "../fields.js";
import providers from "../providers.json" with { type: "json" };
import { clean, dec, g, n } from "./common.js";

// Provider detection is shared by every SDK: sdk/providers.json, copied by `make sync-pricing`.
const HOSTS: Record<string, string> = providers.openai_compatible_hosts;
const HOST_SUFFIXES: Record<string, string> = providers.host_suffixes;
/** Providers documented to accept `stream_options.include_usage`. */
export const INCLUDE_USAGE_PROVIDERS: ReadonlySet<string> = new Set(providers.include_usage_providers);
/**
 * What an unknown host (a LiteLLM proxy, Portkey, Helicone, Cloudflare AI Gateway, an in-house
 * gateway) is stamped as: priced as the model it names and recorded under that model's provider.
 */
export const GATEWAY_PROVIDER: string = providers.gateway_provider;
const GATEWAY_HOSTS: Record<string, string> = providers.gateway_hosts;
const GATEWAY_HEADERS: Record<string, string> = providers.gateway_headers;
const GATEWAY_COST_HEADERS: Record<string, string> = providers.gateway_cost_headers;
/** Inject `stream_options.include_usage` for the gateway provider too (a refusal is learned per host). */
export const INCLUDE_USAGE_UNKNOWN_HOSTS: boolean = providers.include_usage_unknown_hosts;
const XAI_TICKS_PER_USD: Dec = { c: 10_000_000_000n, s: 0 };

/** The provider behind an OpenAI-compatible base URL host. */
export function providerForHost(host: string, port: string | null, extra: Record<string, string> = {}): string {
  const h = host.toLowerCase();
  if (port && extra[`${h}:${port}`]) return extra[`${h}:${port}`] as string;
  if (extra[h]) return extra[h] as string;
  if (HOSTS[h]) return HOSTS[h] as string;
  for (const [suffix, provider] of Object.entries(HOST_SUFFIXES)) if (h.endsWith(suffix)) return provider;
  for (const [known, provider] of Object.entries(HOSTS)) if (h.endsWith(`.${known}`)) return provider;
  return GATEWAY_PROVIDER;
}

/** `host` or `host:port` (a non-default port): how a gateway host is named. */
export function hostKey(url: URL): string {
  // URL drops a scheme's default port (443 for https, 80 for http), so `port` is set only otherwise
  const host = url.hostname.toLowerCase();
  return url.port ? `${host}:${url.port}` : host;
}

/** The well-known gateway behind a host (a subdomain of a listed host counts too). */
export function gatewayForHost(host: string): string | null {
  const h = host.toLowerCase();
  for (const [known, gateway] of Object.entries(GATEWAY_HOSTS)) if (h === known || h.endsWith(`.${known}`)) return gateway;
  return null;
}

/**
 * [gateway named by a response header, the gateway's own cost in USD] from a response's headers.
 * A streamed response's headers leave before the cost is known: no cost then.
 */
export function gatewayFromHeaders(headers: { get(name: string): string | null }, streamed: boolean): [string | null, Dec | null] {
  let gateway: string | null = null;
  for (const [name, known] of Object.entries(GATEWAY_HEADERS)) {
    if (headers.get(name) !== null) {
      gateway = known;
      break;
    }
  }
  let cost: Dec | null = null;
  if (!streamed) {
    for (const name of Object.keys(GATEWAY_COST_HEADERS)) {
      cost = dec(headers.get(name));
      if (cost !== null) break;
    }
  }
  return [gateway, cost];
}

/** A gateway's refusal of the injected `stream_options` (400/422 naming it). */
export function rejectsStreamOptions(status: unknown, message: string): boolean {
  return (status === 400 || status === 422) && (message.includes("stream_options") || message.includes("include_usage"));
}

/** Chat Completions `usage` → [normalised usage, provider-reported cost in USD]. */
export function chatUsage(usage: unknown, provider = "openai"): [Usage, Dec | null] {
  let prompt = n(usage, "prompt_tokens");
  const completion = n(usage, "completion_tokens");
  const ptd = g(usage, "prompt_tokens_details");
  const ctd = g(usage, "completion_tokens_details");
  let cached = n(ptd, "cached_tokens");
  const cacheWrite = n(ptd, "cache_write_tokens") || n(usage, "cache_creation_input_tokens");
  const audioIn = n(ptd, "audio_tokens");
  const imageIn = n(ptd, "image_tokens");
  const reasoning = n(ctd, "reasoning_tokens");
  const audioOut = n(ctd, "audio_tokens");
  if (!cached) cached = n(usage, "cache_read_input_tokens");
  let cost: Dec | null = null;
  if (provider === "deepseek" && g(usage, "prompt_cache_hit_tokens") !== undefined) {
    cached = n(usage, "prompt_cache_hit_tokens");
    const miss = g(usage, "prompt_cache_miss_tokens");
    prompt = cached + (miss !== undefined ? n(usage, "prompt_cache_miss_tokens") : Math.max(0, prompt - cached));
  }
  let output = Math.max(0, completion - audioOut);
  if (provider === "xai") {
    // xAI reports reasoning outside completion_tokens (it is in total_tokens).
    output = completion + reasoning - audioOut;
    const ticks = dec(g(usage, "cost_in_usd_ticks"));
    if (ticks !== null) cost = divide(ticks, XAI_TICKS_PER_USD);
  }
  if (provider === "openrouter") cost = dec(g(usage, "cost"));
  const writeField = provider === "openai" || provider === "azure" ? "cache_write_30m_tokens" : "cache_write_5m_tokens";
  const writes: Record<string, number> = {
    cache_write_5m_tokens: 0,
    cache_write_30m_tokens: 0,
    cache_write_1h_tokens: 0,
    cache_write_12h_tokens: 0,
  };
  const ttl = g(ptd, "cache_creation_token_details") ?? g(usage, "cache_creation");
  for (const name of ["5m", "30m", "1h", "12h"]) writes[`cache_write_${name}_tokens`] = n(ttl, `ephemeral_${name}_input_tokens`);
  const listed = Object.values(writes).reduce((a, b) => a + b, 0);
  writes[writeField] = (writes[writeField] ?? 0) + Math.max(0, cacheWrite - listed);
  let uncached = prompt - cached - audioIn - imageIn;
  // A prompt that cannot contain the writes (older gateways) never had them inside it.
  if (uncached >= cacheWrite) uncached -= cacheWrite;
  return [
    clean({
      input_tokens: Math.max(0, uncached),
      cached_input_tokens: cached,
      ...writes,
      web_search_requests: n(ptd, "web_search_requests") || n(g(usage, "server_tool_use"), "web_search_requests"),
      output_tokens: output,
      reasoning_tokens: reasoning,
      audio_input_tokens: audioIn,
      audio_output_tokens: audioOut,
      image_input_tokens: imageIn,
    }),
    cost,
  ];
}

/** Responses API `usage` (+ `tool_usage`) → normalised usage. */
export function responsesUsage(usage: unknown, toolUsage?: unknown): Usage {
  const totalIn = n(usage, "input_tokens");
  const itd = g(usage, "input_tokens_details");
  const cached = n(itd, "cached_tokens");
  const cacheWrite = n(itd, "cache_write_tokens");
  const cwd = g(itd, "cache_write_tokens_details");
  const w12 = n(cwd, "ttl_12h_tokens");
  let w30 = n(cwd, "ttl_30m_tokens");
  w30 += Math.max(0, cacheWrite - w12 - w30);
  return clean({
    input_tokens: Math.max(0, totalIn - cached - w30 - w12),
    cached_input_tokens: cached,
    cache_write_30m_tokens: w30,
    cache_write_12h_tokens: w12,
    output_tokens: n(usage, "output_tokens"),
    reasoning_tokens: n(g(usage, "output_tokens_details"), "reasoning_tokens"),
    web_search_requests: n(g(toolUsage, "web_search"), "num_requests"),
  });
}

export function embeddingUsage(usage: unknown): Usage {
  return clean({ input_tokens: n(usage, "prompt_tokens") || n(usage, "input_tokens") });
}
