package costobs

import (
	"context"
	"encoding/json"
	"testing"
)

func decode[T any](t *testing.T, s string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestChatUsageQuirks(t *testing.T) {
	cases := []struct {
		name, provider, usage string
		want                  Usage
		cost                  string
	}{
		{"openai cache writes are 30m", "openai",
			`{"prompt_tokens":1000,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":300,"cache_write_tokens":200,"audio_tokens":100},"completion_tokens_details":{"reasoning_tokens":30,"audio_tokens":10}}`,
			Usage{InputTokens: 400, CachedInputTokens: 300, CacheWrite30mTokens: 200, AudioInputTokens: 100,
				OutputTokens: 40, ReasoningTokens: 30, AudioOutputTokens: 10}, ""},
		{"xai reasoning outside completion, ticks", "xai",
			`{"prompt_tokens":100,"completion_tokens":10,"completion_tokens_details":{"reasoning_tokens":90},"cost_in_usd_ticks":12345678}`,
			Usage{InputTokens: 100, OutputTokens: 100, ReasoningTokens: 90}, "0.0012345678"},
		{"deepseek hit/miss", "deepseek",
			`{"prompt_tokens":999,"completion_tokens":5,"prompt_cache_hit_tokens":600,"prompt_cache_miss_tokens":400}`,
			Usage{InputTokens: 400, CachedInputTokens: 600, OutputTokens: 5}, ""},
		{"openrouter cost and 5m writes", "openrouter",
			`{"prompt_tokens":1000,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":50},"cost":1.5e-05}`,
			Usage{InputTokens: 850, CachedInputTokens: 100, CacheWrite5mTokens: 50, OutputTokens: 5}, "0.000015"},
		{"gateway prompt without writes", "litellm",
			`{"prompt_tokens":120,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":100},"cache_creation_input_tokens":500,"cache_creation":{"ephemeral_1h_input_tokens":500}}`,
			Usage{InputTokens: 20, CachedInputTokens: 100, CacheWrite1hTokens: 500, OutputTokens: 5}, ""},
	}
	for _, c := range cases {
		got, cost := chatUsage(decode[openaiChatUsage](t, c.usage), c.provider)
		if got != c.want || cost != c.cost {
			t.Errorf("%s: %+v %q, want %+v %q", c.name, got, cost, c.want, c.cost)
		}
	}
}

func TestResponsesAnthropicGeminiBedrockUsage(t *testing.T) {
	r := responsesUsage(decode[openaiResponsesUsage](t,
		`{"input_tokens":1000,"input_tokens_details":{"cached_tokens":100,"cache_write_tokens":300,"cache_write_tokens_details":{"ttl_12h_tokens":200}},"output_tokens":80,"output_tokens_details":{"reasoning_tokens":50}}`),
		decode[openaiToolUsage](t, `{"web_search":{"num_requests":2}}`))
	if r != (Usage{InputTokens: 600, CachedInputTokens: 100, CacheWrite30mTokens: 100, CacheWrite12hTokens: 200,
		OutputTokens: 80, ReasoningTokens: 50, WebSearchRequests: 2}) {
		t.Errorf("responses %+v", r)
	}
	a := messagesUsage(decode[anthropicUsage](t,
		`{"input_tokens":10,"cache_creation_input_tokens":300,"cache_creation":{"ephemeral_1h_input_tokens":100,"ephemeral_5m_input_tokens":0},"cache_read_input_tokens":50,"output_tokens":70,"output_tokens_details":{"thinking_tokens":60},"server_tool_use":{"web_search_requests":1,"web_fetch_requests":2}}`))
	if a != (Usage{InputTokens: 10, CachedInputTokens: 50, CacheWrite5mTokens: 200, CacheWrite1hTokens: 100,
		OutputTokens: 70, ReasoningTokens: 60, WebSearchRequests: 1, ToolRequests: 2}) {
		t.Errorf("anthropic %+v", a)
	}
	g := generateUsage(decode[geminiUsage](t,
		`{"promptTokenCount":1000,"cachedContentTokenCount":200,"candidatesTokenCount":60,"thoughtsTokenCount":40,"toolUsePromptTokenCount":5,"promptTokensDetails":[{"modality":"TEXT","tokenCount":700},{"modality":"AUDIO","tokenCount":300}],"cacheTokensDetails":[{"modality":"AUDIO","tokenCount":100}],"candidatesTokensDetails":[{"modality":"AUDIO","tokenCount":10}]}`))
	if g != (Usage{InputTokens: 605, CachedInputTokens: 200, AudioInputTokens: 200, OutputTokens: 90,
		ReasoningTokens: 40, AudioOutputTokens: 10}) {
		t.Errorf("gemini %+v", g)
	}
	b := converseUsage(decode[bedrockUsage](t,
		`{"inputTokens":10,"outputTokens":5,"cacheReadInputTokens":100,"cacheWriteInputTokens":300,"cacheDetails":[{"ttl":"1h","inputTokens":200}]}`))
	if b != (Usage{InputTokens: 10, CachedInputTokens: 100, CacheWrite5mTokens: 100, CacheWrite1hTokens: 200, OutputTokens: 5}) {
		t.Errorf("bedrock %+v", b)
	}
	for id, want := range map[string][2]string{
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0":                          {"anthropic.claude-sonnet-4-5-20250929-v1:0", "us"},
		"arn:aws:bedrock:us-east-1:1:inference-profile/eu.amazon.nova-pro-v1:0": {"amazon.nova-pro-v1:0", "eu"},
		"arn:aws:bedrock:us-east-1:1:application-inference-profile/abc":         {"arn:aws:bedrock:us-east-1:1:application-inference-profile/abc", ""},
		"arn:aws:bedrock:us-east-1:1:application-inference-profile/mapped":      {"anthropic.claude-3-haiku-20240307-v1:0", ""},
		"amazon.titan-text-express-v1":                                          {"amazon.titan-text-express-v1", ""},
	} {
		model, geo := bedrockModel(id, map[string]string{
			"arn:aws:bedrock:us-east-1:1:application-inference-profile/mapped": "anthropic.claude-3-haiku-20240307-v1:0"})
		if model != want[0] || geo != want[1] {
			t.Errorf("%s: %s %s", id, model, geo)
		}
	}
}

func TestCountsAreLenient(t *testing.T) {
	u := decode[openaiEmbeddingUsage](t, `{"prompt_tokens":"12","input_tokens":-3}`)
	if u.PromptTokens != 12 || u.InputTokens != 0 {
		t.Fatalf("%+v", u)
	}
}

func TestRecordRefusesBadInputNamingTheField(t *testing.T) {
	c := newTestClient(t, newFakeIngest(t).URL, Config{})
	for _, e := range []struct {
		ev    Event
		field string
	}{
		{Event{Model: "m"}, "Event.Provider"},
		{Event{Provider: "p"}, "Event.Model"},
		{Event{Provider: "p", Model: "m", Usage: Usage{OutputTokens: 1, ReasoningTokens: 2}}, "usage.reasoning_tokens"},
		{Event{Provider: "p", Model: "m", Usage: Usage{InputTokens: -1}}, "usage.input_tokens"},
		{Event{Provider: "p", Model: "m", Usage: Usage{AudioSeconds: "1e3"}}, "usage.audio_seconds"},
		{Event{Provider: "p", Model: "m", Status: "fine"}, "Event.Status"},
	} {
		err := c.Record(context.Background(), e.ev)
		ie, ok := err.(*InputError)
		if !ok || ie.Field != e.field {
			t.Errorf("%+v: %v, want a field %s error", e.ev, err, e.field)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for cfg, field := range map[*Config]string{
		{IngestURL: "localhost:8080"}:                   "Config.IngestURL (COSTOBS_INGEST_URL)",
		{MaxBatchEvents: 5000}:                          "Config.MaxBatchEvents",
		{ProviderHosts: map[string]string{"h": "Bad!"}}: "Config.ProviderHosts",
	} {
		err := cfg.Validate()
		if ie, ok := err.(*InputError); !ok || ie.Field != field {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("New accepted an invalid Config")
		}
	}()
	New(Config{IngestURL: "ftp://x"})
}

func TestMetadataLayers(t *testing.T) {
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{Team: "payments", Service: "api", Tags: map[string]string{"a": "1", "b": "1"}})
	ctx := WithMetadata(context.Background(), Metadata{Team: "search", Feature: "chat", Tags: map[string]string{"b": "2"}})
	ctx = WithMetadata(ctx, Metadata{Feature: "summarise", Tags: map[string]string{"bad key!": "x"}})
	if err := c.Record(ctx, Event{Provider: "openai", Model: "gpt-4o", Metadata: Metadata{UserID: "u1"}}); err != nil {
		t.Fatal(err)
	}
	ev := events(t, c, ingest)[0]
	tags := ev["tags"].(map[string]any)
	if ev["team"] != "search" || ev["service"] != "api" || ev["feature"] != "summarise" || ev["user_id"] != "u1" ||
		tags["a"] != "1" || tags["b"] != "2" || len(tags) != 2 {
		t.Fatalf("event %v", ev)
	}
}
