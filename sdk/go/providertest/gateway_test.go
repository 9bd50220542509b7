package providertest

// OpenAI clients pointed at a gateway (LiteLLM proxy, Portkey, an in-house one): priced as the
// model they name, streamed usage captured, a refused stream_options never breaks the call.
// The Python SDK's tests/test_gateways.py, scenario for scenario, with the real openai-go; the
// gateway is a loopback fake on a host the SDK does not know.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	costobs "github.com/officialasishkumar/costobs/sdk/go"
	"github.com/openai/openai-go/v3"
)

const gatewayUsage = `{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,
"prompt_tokens_details":{"cached_tokens":1000,"audio_tokens":50},"completion_tokens_details":{"reasoning_tokens":200,"audio_tokens":20}}`

// normalised is gatewayUsage as every SDK records it (the Python SDK's NORMALISED).
var normalised = map[string]any{"input_tokens": 150.0, "cached_input_tokens": 1000.0, "audio_input_tokens": 50.0,
	"output_tokens": 280.0, "reasoning_tokens": 200.0, "audio_output_tokens": 20.0}

func completion(model, usage string) string {
	return `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"` + model + `","service_tier":"default",
	"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}],"usage":` + usage + `}`
}

func chunk(delta, finish string) string {
	choices := `[]`
	if delta != "" {
		choices = `[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]`
	}
	return `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":` + choices + `,"usage":null}`
}

// chatStream is three content chunks, the usage chunk when asked, then [DONE].
func chatStream(withUsage bool) []string {
	events := []string{chunk(`{"role":"assistant","content":""}`, "null"), chunk(`{"content":"Hel"}`, "null"),
		chunk(`{"content":"lo"}`, `"stop"`)}
	if withUsage {
		events = append(events, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":`+
			strings.ReplaceAll(gatewayUsage, "\n", "")+`}`)
	}
	return append(events, "data: [DONE]")
}

// fakeGateway records each request body and answers with reply.
type fakeGateway struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newGateway(t *testing.T, reply func(w http.ResponseWriter, body map[string]any)) *fakeGateway {
	g := &fakeGateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		g.mu.Lock()
		g.bodies = append(g.bodies, body)
		g.mu.Unlock()
		reply(w, body)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGateway) host() string {
	u, _ := url.Parse(g.URL)
	return u.Host
}

func (g *fakeGateway) requests() []map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]any(nil), g.bodies...)
}

func chatWith(model string) openai.ChatCompletionNewParams {
	p := chatParams()
	p.Model = model
	return p
}

// streamText reads a whole chat stream: the deltas the caller saw.
func streamText(t *testing.T, client *openai.Client, model string) ([]string, error) {
	t.Helper()
	stream := client.Chat.Completions.NewStreaming(context.Background(), chatWith(model))
	defer func() { _ = stream.Close() }()
	var seen []string
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) == 0 {
			t.Errorf("the caller saw a chunk without choices: %s", c.RawJSON())
			continue
		}
		seen = append(seen, c.Choices[0].Delta.Content)
	}
	return seen, stream.Err()
}

// gatewayChat makes one non-streamed chat call for model through a gateway answering with
// the given headers and usage; it returns the one event shipped.
func gatewayChat(t *testing.T, model, usage string, headers map[string]string) map[string]any {
	t.Helper()
	g := newGateway(t, func(w http.ResponseWriter, _ map[string]any) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		jsonReply(w, completion(model, usage))
	})
	co, hc, in := observe(t, costobs.Config{})
	if _, err := openaiClient(g.URL, hc).Chat.Completions.New(context.Background(), chatWith(model)); err != nil {
		t.Fatal(err)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"gateway_host": g.host()})
	return ev
}

func TestGatewayCallCostsTheSameAsDirectToTheDigit(t *testing.T) {
	g := newGateway(t, func(w http.ResponseWriter, _ map[string]any) { jsonReply(w, completion("gpt-4o-mini", gatewayUsage)) })
	var evs []map[string]any
	for _, cfg := range []costobs.Config{{}, {ProviderHosts: map[string]string{g.host(): "openai"}}} {
		co, hc, in := observe(t, cfg)
		if _, err := openaiClient(g.URL, hc).Chat.Completions.New(context.Background(), chatWith("gpt-4o-mini")); err != nil {
			t.Fatal(err)
		}
		ev, _ := one(t, co, in)
		evs = append(evs, ev)
	}
	through, direct := evs[0], evs[1]
	want(t, through, map[string]any{"provider": "openai", "gateway_host": g.host(), "canonical_model": "gpt-4o-mini",
		"cost_usd": "0.0002655"}) // the Python SDK's figure for the same call
	want(t, direct, map[string]any{"provider": "openai", "canonical_model": "gpt-4o-mini", "cost_usd": "0.0002655"})
	if _, ok := direct["gateway_host"]; ok {
		t.Errorf("a known provider's host is no gateway: %v", direct)
	}
	if !reflect.DeepEqual(through["usage"], normalised) || !reflect.DeepEqual(direct["usage"], normalised) {
		t.Errorf("usage %v / %v", through["usage"], direct["usage"])
	}
}

func TestRoutingPrefixedClaudeThroughAGatewayIsPricedAsAnthropic(t *testing.T) {
	ev := gatewayChat(t, "anthropic/claude-sonnet-4-5", `{"prompt_tokens":2000,"completion_tokens":100,"total_tokens":2100}`, nil)
	// 2000 × 3 + 100 × 15 per 1M: Anthropic's direct price
	want(t, ev, map[string]any{"provider": "anthropic", "model": "anthropic/claude-sonnet-4-5",
		"canonical_model": "claude-sonnet-4-5", "cost_usd": "0.0075"})
}

func TestLiteLLMCostHeaderIsKeptBesideOurs(t *testing.T) {
	ev := gatewayChat(t, "gpt-4o-mini", gatewayUsage, map[string]string{"x-litellm-response-cost": "1.2e-05"})
	want(t, ev, map[string]any{"gateway": "litellm", "provider_cost_usd": "0.000012", "cost_usd": "0.0002655"})
}

func TestGatewayNamedByResponseHeader(t *testing.T) {
	ev := gatewayChat(t, "gpt-4o-mini", gatewayUsage, map[string]string{"x-portkey-trace-id": "t-1"})
	want(t, ev, map[string]any{"gateway": "portkey"})
	if _, ok := ev["provider_cost_usd"]; ok {
		t.Errorf("no cost header, yet %v", ev)
	}
}

func TestUnknownModelThroughAGatewayStaysUnpricedUnderTheGatewayProvider(t *testing.T) {
	ev := gatewayChat(t, "llama-3-70b-inhouse", gatewayUsage, nil)
	want(t, ev, map[string]any{"provider": "openai_compatible", "cost_usd": "0", "canonical_model": "llama-3-70b-inhouse"})
}

func TestGatewayStreamGetsIncludeUsageAndTheChunkStaysHidden(t *testing.T) {
	g := newGateway(t, func(w http.ResponseWriter, _ map[string]any) { sse(w, chatStream(true), false) })
	co, hc, in := observe(t, costobs.Config{})
	seen, err := streamText(t, openaiClient(g.URL, hc), "gpt-4o")
	if err != nil || !reflect.DeepEqual(seen, []string{"", "Hel", "lo"}) {
		t.Fatal(seen, err) // the injected usage chunk is not the caller's
	}
	if opts := g.requests()[0]["stream_options"]; !reflect.DeepEqual(opts, map[string]any{"include_usage": true}) {
		t.Fatalf("stream_options %v", opts)
	}
	ev, _ := one(t, co, in)
	if !reflect.DeepEqual(ev["usage"], normalised) || ev["cost_usd"] == "0" || ev["streaming"] != true {
		t.Fatalf("event %v", ev)
	}
}

// refusing answers a request naming stream_options as a strict gateway does.
func refusing(w http.ResponseWriter, body map[string]any) {
	if _, ok := body["stream_options"]; ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":{"message":"Unrecognized request argument supplied: stream_options"}}`)
		return
	}
	sse(w, chatStream(false), false)
}

func TestRefusedStreamOptionsIsRetriedOnceWithoutAndRemembered(t *testing.T) {
	g := newGateway(t, refusing)
	co, hc, in := observe(t, costobs.Config{})
	client := openaiClient(g.URL, hc)
	first, err := streamText(t, client, "gpt-4o")
	if err != nil || !reflect.DeepEqual(first, []string{"", "Hel", "lo"}) {
		t.Fatal(first, err)
	}
	sent := func() []bool {
		var out []bool
		for _, b := range g.requests() {
			_, ok := b["stream_options"]
			out = append(out, ok)
		}
		return out
	}
	if got := sent(); !reflect.DeepEqual(got, []bool{true, false}) {
		t.Fatalf("stream_options sent %v", got)
	}
	second, err := streamText(t, client, "gpt-4o")
	if err != nil || len(second) != 3 {
		t.Fatal(second, err)
	}
	if got := sent(); !reflect.DeepEqual(got, []bool{true, false, false}) { // learned: no refused attempt
		t.Fatalf("stream_options sent %v", got)
	}
	evs := shipped(t, co, in)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for _, ev := range evs {
		want(t, ev, map[string]any{"status": "ok", "streaming": true, "model": "gpt-4o-2024-08-06"})
	}
}

func TestOtherBadRequestsReachTheCallerUntouched(t *testing.T) {
	g := newGateway(t, func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":{"message":"messages: field required","type":"invalid_request_error"}}`)
	})
	co, hc, in := observe(t, costobs.Config{})
	_, err := streamText(t, openaiClient(g.URL, hc), "gpt-4o")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Message != "messages: field required" {
		t.Fatalf("error %v", err)
	}
	if n := len(g.requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "http_400", "model": "gpt-4o", "gateway_host": g.host()})
}

func TestIncludeUsageTurnedOffForAHost(t *testing.T) {
	g := newGateway(t, func(w http.ResponseWriter, _ map[string]any) { sse(w, chatStream(false), false) })
	co, hc, in := observe(t, costobs.Config{IncludeUsageHosts: map[string]bool{g.host(): false}})
	seen, err := streamText(t, openaiClient(g.URL, hc), "gpt-4o")
	if err != nil || len(seen) != 3 {
		t.Fatal(seen, err)
	}
	if _, ok := g.requests()[0]["stream_options"]; ok {
		t.Fatal("stream_options sent to a host that said no")
	}
	ev, u := one(t, co, in)
	if len(u) != 0 || ev["status"] != "ok" {
		t.Fatalf("event %v", ev)
	}
}

// OpenRouter bills you itself: it keeps its provider, and the cost it reports in usage.cost is
// kept beside ours (the Python SDK's figures for the same answer).
func TestOpenRouterKeepsItsOwnCostBesideOurs(t *testing.T) {
	srv, co, hc, in := setup(t, "openrouter", func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, completion("anthropic/claude-sonnet-4.5", `{"prompt_tokens":2000,"completion_tokens":100,"total_tokens":2100,"cost":0.00751}`))
	})
	if _, err := openaiClient(srv.URL, hc).Chat.Completions.New(context.Background(), chatWith("anthropic/claude-sonnet-4.5")); err != nil {
		t.Fatal(err)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"provider": "openrouter", "provider_cost_usd": "0.00751", "cost_usd": "0.0075",
		"canonical_model": "claude-sonnet-4-5"})
	if _, ok := ev["gateway_host"]; ok {
		t.Errorf("a known provider is no gateway: %v", ev)
	}
}
