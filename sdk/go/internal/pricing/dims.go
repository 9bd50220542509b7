// Package pricing is the pure pricing engine of the Go SDK: a compiled price table (the same
// prices.json every SDK embeds) and exact quotes in 1e-18 USD units. It mirrors the Python
// engine (sdk/python/costobs/pricing) rule for rule; pricing/testdata/vectors.json pins both.
//
// Money never touches a float: rates are big.Rat, amounts are big.Int atto-dollars, and the
// one rounding (half-even at 18 places, ClickHouse Decimal(38, 18)) happens per dimension.
package pricing

// rateKey is the usage field a rate prices and how many units the published rate is for.
type rateKey struct {
	key, field string
	unit       int64
}

// rateKeys in the documented order of the Python engine (_dims.RATE_KEYS).
var rateKeys = []rateKey{
	{"input", "input_tokens", 1_000_000},
	{"cached_input", "cached_input_tokens", 1_000_000},
	{"cache_write_5m", "cache_write_5m_tokens", 1_000_000},
	{"cache_write_1h", "cache_write_1h_tokens", 1_000_000},
	{"cache_write_30m", "cache_write_30m_tokens", 1_000_000},
	{"cache_write_12h", "cache_write_12h_tokens", 1_000_000},
	{"output", "output_tokens", 1_000_000},
	{"reasoning", "reasoning_tokens", 1_000_000},
	{"audio_input", "audio_input_tokens", 1_000_000},
	{"audio_output", "audio_output_tokens", 1_000_000},
	{"image_input", "image_input_tokens", 1_000_000},
	{"image_output", "image_output_tokens", 1_000_000},
	{"audio_per_second", "audio_seconds", 1},
	{"audio_per_minute", "audio_seconds", 60},
	{"audio_per_hour", "audio_seconds", 3600},
	{"characters_per_1m", "characters", 1_000_000},
	{"characters_per_1k", "characters", 1_000},
	{"web_search_per_1k", "web_search_requests", 1_000},
	{"tool_per_1k", "tool_requests", 1_000},
	{"requests_per_1k", "requests", 1_000},
	{"per_request", "requests", 1},
}

var rateKeySet = func() map[string]rateKey {
	m := make(map[string]rateKey, len(rateKeys))
	for _, k := range rateKeys {
		m[k.key] = k
	}
	return m
}()

// tokenRateKeys are the dimensions service-tier multipliers (batch, flex, priority) scale.
var tokenRateKeys = map[string]bool{
	"input": true, "cached_input": true, "cache_write_5m": true, "cache_write_1h": true,
	"cache_write_30m": true, "cache_write_12h": true, "output": true, "reasoning": true,
	"audio_input": true, "audio_output": true, "image_input": true, "image_output": true,
}

// promptFields count toward long-context thresholds: every kind of input.
var promptFields = map[string]bool{
	"input_tokens": true, "cached_input_tokens": true, "cache_write_5m_tokens": true,
	"cache_write_1h_tokens": true, "cache_write_30m_tokens": true, "cache_write_12h_tokens": true,
	"audio_input_tokens": true, "image_input_tokens": true,
}

// standardTiers name the default tier: no tier rates apply.
var standardTiers = map[string]bool{
	"": true, "default": true, "standard": true, "auto": true, "on_demand": true,
	"on-demand": true, "scale": true,
}
