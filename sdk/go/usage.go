package costobs

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"

	"github.com/officialasishkumar/costobs/sdk/go/internal/pricing"
)

// Usage is the normalised usage of one call (the wire's usage object; DESIGN.md):
// InputTokens is uncached text input (no cache reads or writes, no audio or image tokens),
// CachedInputTokens the cache reads, cache writes go in their own fields by TTL class,
// OutputTokens is all billed text output with reasoning included, and ReasoningTokens is
// the part of OutputTokens that was reasoning (never charged twice). Zero means absent.
type Usage struct {
	InputTokens         int64 `json:"input_tokens,omitempty"`
	CachedInputTokens   int64 `json:"cached_input_tokens,omitempty"`
	CacheWrite5mTokens  int64 `json:"cache_write_5m_tokens,omitempty"`
	CacheWrite1hTokens  int64 `json:"cache_write_1h_tokens,omitempty"`
	CacheWrite30mTokens int64 `json:"cache_write_30m_tokens,omitempty"`
	CacheWrite12hTokens int64 `json:"cache_write_12h_tokens,omitempty"`
	OutputTokens        int64 `json:"output_tokens,omitempty"`
	ReasoningTokens     int64 `json:"reasoning_tokens,omitempty"`
	AudioInputTokens    int64 `json:"audio_input_tokens,omitempty"`
	AudioOutputTokens   int64 `json:"audio_output_tokens,omitempty"`
	ImageInputTokens    int64 `json:"image_input_tokens,omitempty"`
	ImageOutputTokens   int64 `json:"image_output_tokens,omitempty"`
	Images              int64 `json:"images,omitempty"`
	Characters          int64 `json:"characters,omitempty"`
	WebSearchRequests   int64 `json:"web_search_requests,omitempty"`
	ToolRequests        int64 `json:"tool_requests,omitempty"`
	Requests            int64 `json:"requests,omitempty"`
	// AudioSeconds is a decimal string ("13.37"): billed audio duration.
	AudioSeconds string `json:"audio_seconds,omitempty"`
	ImageSize    string `json:"image_size,omitempty"`
	ImageQuality string `json:"image_quality,omitempty"`
}

const maxCount = 1_000_000_000_000

// counts lists the count fields by wire name (one place for validation and pricing).
func (u *Usage) counts() [17]struct {
	name string
	v    *int64
} {
	return [17]struct {
		name string
		v    *int64
	}{
		{"input_tokens", &u.InputTokens}, {"cached_input_tokens", &u.CachedInputTokens},
		{"cache_write_5m_tokens", &u.CacheWrite5mTokens}, {"cache_write_1h_tokens", &u.CacheWrite1hTokens},
		{"cache_write_30m_tokens", &u.CacheWrite30mTokens}, {"cache_write_12h_tokens", &u.CacheWrite12hTokens},
		{"output_tokens", &u.OutputTokens}, {"reasoning_tokens", &u.ReasoningTokens},
		{"audio_input_tokens", &u.AudioInputTokens}, {"audio_output_tokens", &u.AudioOutputTokens},
		{"image_input_tokens", &u.ImageInputTokens}, {"image_output_tokens", &u.ImageOutputTokens},
		{"images", &u.Images}, {"characters", &u.Characters},
		{"web_search_requests", &u.WebSearchRequests}, {"tool_requests", &u.ToolRequests},
		{"requests", &u.Requests},
	}
}

// clean clamps what providers report into the wire's invariants (as the Python SDK does):
// no negative counts, reasoning within output, text fields at most 32 characters.
func (u Usage) clean() Usage {
	for _, c := range u.counts() {
		if *c.v < 0 {
			*c.v = 0
		}
	}
	if u.ReasoningTokens > u.OutputTokens {
		u.ReasoningTokens = u.OutputTokens
	}
	if len(u.ImageSize) > 32 {
		u.ImageSize = u.ImageSize[:32]
	}
	if len(u.ImageQuality) > 32 {
		u.ImageQuality = u.ImageQuality[:32]
	}
	return u
}

// validate refuses usage the ingest would refuse, naming the field (Record's input check).
func (u *Usage) validate() error {
	for _, c := range u.counts() {
		if *c.v < 0 || *c.v > maxCount {
			return &InputError{Field: "usage." + c.name, Problem: "must be a count between 0 and 1e12"}
		}
	}
	if u.ReasoningTokens > u.OutputTokens {
		return &InputError{Field: "usage.reasoning_tokens", Problem: "is part of output_tokens and cannot exceed it"}
	}
	if u.AudioSeconds != "" {
		if _, ok := pricing.Decimal(u.AudioSeconds); !ok {
			return &InputError{Field: "usage.audio_seconds", Problem: `must be a decimal string such as "13.37"`}
		}
	}
	return nil
}

// quantities are the non-zero usage values for the pricing engine.
func (u *Usage) quantities() map[string]*big.Rat {
	q := make(map[string]*big.Rat, 4)
	for _, c := range u.counts() {
		if *c.v > 0 {
			q[c.name] = new(big.Rat).SetInt64(*c.v)
		}
	}
	if r, ok := pricing.Decimal(u.AudioSeconds); ok && r.Sign() > 0 {
		q["audio_seconds"] = r
	}
	return q
}

// count is a provider's token count read leniently: a number, a numeric string, or absent;
// anything else (null, negative, fractional) counts as 0, like the Python SDK's n().
type count int64

func (c *count) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil && n > 0 {
		*c = count(n)
		return nil
	}
	if r, ok := new(big.Rat).SetString(string(b)); ok && r.IsInt() && r.Sign() > 0 && r.Num().IsInt64() {
		*c = count(r.Num().Int64())
		return nil
	}
	*c = 0
	return nil
}

// usdString is a provider-reported USD amount (a JSON number or numeric string, exact: never
// a float), divided by divisor.
func usdString(raw json.RawMessage, divisor int64) string {
	return usdText(string(bytes.Trim(raw, `"`)), divisor)
}
