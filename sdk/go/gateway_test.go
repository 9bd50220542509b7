package costobs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const gatewayChat = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":20}}`

// gateway serves h on loopback as a host the SDK does not know (an in-house gateway).
func gateway(t *testing.T, cfg Config, h http.HandlerFunc) (*httptest.Server, *Client, *fakeIngest, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ingest := newFakeIngest(t)
	u, _ := url.Parse(srv.URL)
	return srv, newTestClient(t, ingest.URL, cfg), ingest, u.Host
}

func TestUnknownHostIsAGatewayPricedAsTheModelItNames(t *testing.T) {
	srv, c, ingest, host := gateway(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, strings.Replace(gatewayChat, "gpt-4o-mini", "anthropic/claude-sonnet-4-5", 1))
	})
	resp := post(t, c, srv.URL+"/v1/chat/completions", `{"model":"anthropic/claude-sonnet-4-5"}`)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	ev := events(t, c, ingest)
	// 1000 × 3 + 20 × 15 per 1M, exactly what the direct Anthropic call costs
	if len(ev) != 1 || ev[0]["provider"] != "anthropic" || ev[0]["gateway_host"] != host ||
		ev[0]["canonical_model"] != "claude-sonnet-4-5" || ev[0]["model"] != "anthropic/claude-sonnet-4-5" ||
		ev[0]["cost_usd"] != "0.0033" || ev[0]["gateway"] != nil {
		t.Fatalf("events %v", ev)
	}
}

func TestWellKnownGatewayByHostAndByHeaderAndItsCost(t *testing.T) {
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{})
	header := http.Header{"Content-Type": {"application/json"}, "X-Litellm-Response-Cost": {" 1.2e-05"},
		"X-Portkey-Trace-Id": {"t-1"}}
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := header.Clone()
		if r.URL.Host == "gw.example.com" {
			h.Del("X-Portkey-Trace-Id")
		}
		return &http.Response{StatusCode: 200, Header: h, Request: r, ContentLength: -1,
			Body: io.NopCloser(strings.NewReader(gatewayChat))}, nil
	})
	hc := &http.Client{Transport: c.Transport(base)}
	for _, target := range []string{"https://eu.api.portkey.ai/v1/chat/completions",
		"https://gw.example.com/v1/chat/completions", "https://api.openai.com/v1/chat/completions"} {
		resp, err := hc.Post(target, "application/json", strings.NewReader(`{"model":"gpt-4o-mini"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	byHost := map[any]map[string]any{}
	for _, ev := range events(t, c, ingest) {
		byHost[ev["gateway_host"]] = ev
	}
	// the host names portkey first; the LiteLLM header names litellm where the host says nothing
	portkey, litellm, direct := byHost["eu.api.portkey.ai"], byHost["gw.example.com"], byHost[nil]
	if portkey["gateway"] != "portkey" || litellm["gateway"] != "litellm" || direct["gateway"] != nil {
		t.Fatalf("gateways %v / %v / %v", portkey, litellm, direct)
	}
	for _, ev := range []map[string]any{portkey, litellm} {
		if ev["provider_cost_usd"] != "0.000012" || ev["provider"] != "openai" || ev["cost_usd"] != direct["cost_usd"] {
			t.Fatalf("gateway %v, direct %v", ev, direct)
		}
	}
	if direct["provider_cost_usd"] != nil { // only a gateway's headers are read
		t.Fatalf("direct %v", direct)
	}
}

func TestGatewayHeaderRules(t *testing.T) {
	d, err := newDetector(providersJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		header     http.Header
		gw, cost   string
		comment    string
		preset, in string
	}{
		{http.Header{"X-Litellm-Response-Cost": {"0.00042"}}, "litellm", "0.00042", "cost header names litellm", "", ""},
		{http.Header{"X-Litellm-Response-Cost": {"0.00042"}, "Content-Type": {"text/event-stream"}}, "litellm", "", "no cost from a stream's headers", "", ""},
		{http.Header{"X-Litellm-Response-Cost": {"-1"}}, "litellm", "", "negative", "", ""},
		{http.Header{"X-Litellm-Response-Cost": {"1/3"}}, "litellm", "", "a fraction is no decimal", "", ""},
		{http.Header{"X-Litellm-Response-Cost": {"0x1p-2"}}, "litellm", "", "nor hexadecimal", "", ""},
		{http.Header{"X-Litellm-Response-Cost": {"0.1234567890123456785"}}, "litellm", "0.123456789012345678", "half-even at 18 places", "", ""},
		{http.Header{"Cf-Aig-Cache-Status": {"HIT"}}, "cloudflare", "", "cloudflare", "", ""},
		{http.Header{"X-Portkey-Trace-Id": {"t"}}, "helicone", "", "the host's gateway wins", "helicone", ""},
	}
	for _, tc := range cases {
		c := &call{gateway: tc.preset}
		d.seeHeaders(c, tc.header)
		if c.gateway != tc.gw || c.providerCost != tc.cost {
			t.Errorf("%s: gateway %q cost %q, want %q %q", tc.comment, c.gateway, c.providerCost, tc.gw, tc.cost)
		}
	}
	for host, want := range map[string]string{"api.portkey.ai": "portkey", "x.oai.helicone.ai": "helicone",
		"gateway.ai.cloudflare.com": "cloudflare", "notportkey.ai": "", "example.com": ""} {
		if got := d.gatewayForHost(host); got != want {
			t.Errorf("gatewayForHost(%s) = %q, want %q", host, got, want)
		}
	}
	if d.gatewayHeaders[0][0] != "x-litellm-response-cost" || d.gatewayHeaders[len(d.gatewayHeaders)-1][1] != "cloudflare" {
		t.Errorf("gateway_headers not read in file order: %v", d.gatewayHeaders)
	}
	for _, hk := range [][3]string{{"https", "GW.example.com:443", "gw.example.com"}, {"http", "gw:80", "gw"},
		{"http", "gw:8080", "gw:8080"}, {"https", "127.0.0.1:8443", "127.0.0.1:8443"}, {"http", "[::1]:9000", "::1:9000"}} {
		if _, key := hostKey(hk[0], hk[1]); key != hk[2] {
			t.Errorf("hostKey(%s, %s) = %q, want %q", hk[0], hk[1], key, hk[2])
		}
	}
	if !rejectsStreamOptions(400, []byte("stream_options is not supported")) ||
		!rejectsStreamOptions(422, []byte("include_usage: extra inputs are not permitted")) ||
		rejectsStreamOptions(500, []byte("stream_options")) || rejectsStreamOptions(400, []byte("bad messages")) {
		t.Error("rejectsStreamOptions")
	}
}

// refusingGateway answers a streamed chat request naming stream_options with a 400, like a
// gateway that validates its parameters; without it, a stream with no usage.
func refusingGateway(requests *[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*requests = append(*requests, string(b))
		if strings.Contains(string(b), "stream_options") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"message":"Unrecognized request argument supplied: stream_options"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks+"data: [DONE]\n\n")
	}
}

func TestRefusedIncludeUsageIsRetriedOnceAndRemembered(t *testing.T) {
	var requests []string
	srv, c, ingest, _ := gateway(t, Config{}, refusingGateway(&requests))
	const body = `{"model":"gpt-4o","stream":true,"messages":[]}`
	for range 2 {
		resp := post(t, c, srv.URL+"/v1/chat/completions", body)
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(out) != chatChunks+"data: [DONE]\n\n" {
			t.Fatalf("the caller got %d %q", resp.StatusCode, out)
		}
	}
	// refused, retried as written; then learned: no refused attempt
	if len(requests) != 3 || !strings.Contains(requests[0], "stream_options") || requests[1] != body || requests[2] != body {
		t.Fatalf("requests %q", requests)
	}
	ev := events(t, c, ingest)
	if len(ev) != 2 || ev[0]["status"] != "ok" || ev[1]["status"] != "ok" || ev[0]["streaming"] != true {
		t.Fatalf("events %v", ev)
	}
}

// A 400 that does not name the parameter reaches the caller whole, after one request.
func TestOtherBadRequestsReachTheCallerUntouched(t *testing.T) {
	answer := `{"error":{"message":"messages: field required","pad":"` + strings.Repeat("x", maxRefusal) + `"}}`
	requests := 0
	srv, c, ingest, _ := gateway(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		requests++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, answer)
	})
	resp := post(t, c, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","stream":true}`)
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 400 || string(out) != answer || requests != 1 {
		t.Fatalf("%d, %d bytes of %d, %d requests", resp.StatusCode, len(out), len(answer), requests)
	}
	ev := events(t, c, ingest)
	if len(ev) != 1 || ev[0]["status"] != "error" || ev[0]["error_type"] != "http_400" || ev[0]["model"] != "gpt-4o" {
		t.Fatalf("events %v", ev)
	}
}

func TestIncludeUsageHostsTurnsInjectionOffOrOn(t *testing.T) {
	var sent []byte
	handler := func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks)
	}
	srv, _, _, host := gateway(t, Config{}, handler)
	const body = `{"model":"gpt-4o","stream":true}`
	for _, tc := range []struct {
		cfg    Config
		inject bool
	}{
		{Config{IncludeUsageHosts: map[string]bool{strings.ToUpper(host): false}}, false},
		{Config{IncludeUsageHosts: map[string]bool{"other.host": false}}, true},
		// a provider that is not documented to accept it, turned on for this host
		{Config{ProviderHosts: map[string]string{host: "groq"}, IncludeUsageHosts: map[string]bool{host: true}}, true},
		{Config{ProviderHosts: map[string]string{host: "groq"}}, false},
	} {
		c := newTestClient(t, newFakeIngest(t).URL, tc.cfg)
		resp := post(t, c, srv.URL+"/v1/chat/completions", body)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if strings.Contains(string(sent), "stream_options") != tc.inject {
			t.Errorf("%+v: sent %s", tc.cfg, sent)
		}
	}
	if _, err := NewClient(Config{IncludeUsageHosts: map[string]bool{" ": true}}); err == nil ||
		!strings.Contains(err.Error(), "Config.IncludeUsageHosts") {
		t.Fatalf("err %v", err)
	}
}

// Failed calls: a timeout or a cancellation is named as such, with the usage known and the
// model the request named.
func TestTimeoutsAndCancellationsAreNamed(t *testing.T) {
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(readBody(r), "before") {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks+usageChunk)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // generation started, then silence
	})
	hc := &http.Client{Transport: c.Transport(nil)}
	do := func(ctx context.Context, body string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	timeout, cancelTimeout := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelTimeout()
	if err := do(timeout, `{"model":"gpt-4o-mini","x":"before"}`); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	mid, cancelMid := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelMid()
	if err := do(mid, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`); err == nil {
		t.Fatal("a stream past its deadline ended cleanly")
	}
	stop, cancelStop := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancelStop)
	if err := do(stop, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	ev := events(t, c, ingest)
	if len(ev) != 3 {
		t.Fatalf("events %v", ev)
	}
	before, timedOut, cancelled := ev[0], ev[1], ev[2]
	if before["status"] != "timeout" || before["model"] != "gpt-4o-mini" || len(before["usage"].(map[string]any)) != 0 {
		t.Fatalf("timeout before any answer: %v", before)
	}
	for _, e := range []map[string]any{timedOut, cancelled} { // 1000 × 2.50 + 200 × 1.25 + 20 × 10 per 1M
		if e["cost_usd"] != "0.00295" || e["streaming"] != true || e["time_to_first_token_ms"] == nil {
			t.Fatalf("cut-off stream lost what was billed: %v", e)
		}
	}
	if timedOut["status"] != "timeout" || cancelled["status"] != "cancelled" || cancelled["error_type"] != "context_canceled" {
		t.Fatalf("statuses %v / %v", timedOut, cancelled)
	}
}

func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// Record with the gateway provider ends like the direct call; one canonical model across clouds.
func TestRecordThroughAGatewayAndAcrossCloudsEndsLikeADirectCall(t *testing.T) {
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{})
	usage := Usage{InputTokens: 2000, OutputTokens: 100}
	for _, e := range []Event{
		{Provider: "openai_compatible", Model: "claude-sonnet-4-5", Usage: usage, ProviderCostUSD: "0.00751"},
		{Provider: "anthropic", Model: "claude-sonnet-4-5-20250929", Usage: usage},
		{Provider: "bedrock", Model: "global.anthropic.claude-sonnet-4-5-20250929-v1:0", Status: "timeout"},
	} {
		if err := c.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	byModel := map[any]map[string]any{}
	for _, ev := range events(t, c, ingest) {
		byModel[ev["model"]] = ev
		if ev["canonical_model"] != "claude-sonnet-4-5" {
			t.Errorf("canonical model %v", ev)
		}
	}
	through, direct := byModel["claude-sonnet-4-5"], byModel["claude-sonnet-4-5-20250929"]
	if through["provider"] != "anthropic" || direct["provider"] != "anthropic" || through["cost_usd"] != "0.0075" ||
		direct["cost_usd"] != "0.0075" || through["gateway_host"] != nil || through["provider_cost_usd"] != "0.00751" {
		t.Fatalf("through %v, direct %v", through, direct)
	}
	if b := byModel["global.anthropic.claude-sonnet-4-5-20250929-v1:0"]; b["provider"] != "bedrock" || b["status"] != "timeout" {
		t.Fatalf("bedrock %v", b)
	}
	if err := c.Record(context.Background(), Event{Provider: "openai", Model: "m", Status: "slow"}); err == nil ||
		!strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err %v", err)
	}
	if err := c.Record(context.Background(), Event{Provider: "openai", Model: "m", ProviderCostUSD: "1/3"}); err == nil ||
		!strings.Contains(err.Error(), "Event.ProviderCostUSD") {
		t.Fatalf("err %v", err)
	}
}
