package pricing

import (
	"math/big"
	"testing"
	"time"
)

// The Python engine's GATEWAY_CASES (sdk/python/tests/test_pricing_engine.py): a call through a
// gateway is priced and recorded as the direct call. The costs are what the Python engine
// (costobs.pricing, PriceTable.quote_call) answers for the same usage, to the digit.
func TestGatewayCallIsPricedAsTheDirectCall(t *testing.T) {
	table := loadTable(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	usage := map[string]*big.Rat{"input_tokens": big.NewRat(300_000, 1),
		"cached_input_tokens": big.NewRat(1234, 1), "output_tokens": big.NewRat(4321, 1)}
	cases := []struct{ via, provider, direct, canonical, cost string }{
		{"gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "0.04768515"},
		{"openai/gpt-4o", "openai", "gpt-4o", "gpt-4o", "0.7947525"},
		{"anthropic/claude-opus-4-1", "anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1", "4.825926"},
		{"claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", "1.8979629"},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", "2.08775919"},
		{"bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5", "0.3217284"},
		{"gemini/gemini-2.5-pro", "gemini", "gemini-2.5-pro", "gemini-2.5-pro", "0.8151235"},
		{"x-ai/grok-4", "xai", "grok-4", "grok-4", "1.931481"},
		{"deepseek-chat", "deepseek", "deepseek-chat", "deepseek-chat", "0.085849372"},
		{"mistral-large-latest", "mistral", "mistral-large-latest", "mistral-large", "0.1564815"},
	}
	for _, c := range cases {
		req := Request{Model: c.via, Quantities: usage, At: at}
		req.Provider = GatewayProvider
		through, err1 := table.QuoteCall(req, false)
		req.Provider = c.provider // an SDK's event already resolved, naming its gateway_host
		flagged, err2 := table.QuoteCall(req, true)
		straight, err3 := table.QuoteCall(Request{Provider: c.provider, Model: c.direct, Quantities: usage, At: at}, false)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(c.via, err1, err2, err3)
		}
		for _, q := range []Quote{through, flagged, straight} {
			if q.Cost() != c.cost || q.Provider != c.provider || q.CanonicalModel != c.canonical {
				t.Errorf("%s: %s under %s as %s, want %s under %s as %s", c.via, q.Cost(), q.Provider,
					q.CanonicalModel, c.cost, c.provider, c.canonical)
			}
		}
	}
}

func TestUnknownModelThroughAGatewayStaysUnpriced(t *testing.T) {
	q, err := loadTable(t).QuoteCall(Request{Provider: GatewayProvider, Model: "llama-3-70b-inhouse",
		Quantities: map[string]*big.Rat{"input_tokens": big.NewRat(1000, 1)}}, true)
	if err != nil || q.Cost() != "0" || q.Entry != "" || q.Provider != GatewayProvider || q.CanonicalModel != "llama-3-70b-inhouse" {
		t.Fatalf("%+v %v", q, err)
	}
}

// A non-gateway call is Quote unchanged: OpenRouter bills itself and keeps its provider.
func TestOtherCallsKeepTheirProvider(t *testing.T) {
	q, err := loadTable(t).QuoteCall(Request{Provider: "openrouter", Model: "anthropic/claude-sonnet-4.5"}, false)
	if err != nil || q.Provider != "openrouter" || q.CanonicalModel != "claude-sonnet-4-5" {
		t.Fatalf("%+v %v", q, err)
	}
}

// The Python engine's test_canonical_model_is_one_name_across_clouds.
func TestCanonicalModelIsOneNameAcrossClouds(t *testing.T) {
	table := loadTable(t)
	cases := [][3]string{
		{"anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"bedrock", "arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"vertex", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"},
		{"openrouter", "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"},
		// a Bedrock model with no same-named entry at its vendor keeps the Bedrock name
		{"bedrock", "amazon.nova-pro-v1:0", "amazon.nova-pro"},
		{"acme", "Foo-1", "Foo-1"}, // unpriced: as sent
	}
	for i := 0; i < 2; i++ { // the second round reads the cache
		for _, c := range cases {
			q, err := table.Quote(Request{Provider: c[0], Model: c[1]})
			if err != nil || q.CanonicalModel != c[2] || q.Provider != c[0] {
				t.Errorf("%s %s: %q under %q (%v), want %q", c[0], c[1], q.CanonicalModel, q.Provider, err, c[2])
			}
		}
	}
}
