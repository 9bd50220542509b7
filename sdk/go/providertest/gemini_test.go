package providertest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"
)

func geminiClient(t *testing.T, base string, hc *http.Client) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "g-test", Backend: genai.BackendGeminiAPI,
		HTTPClient: hc, HTTPOptions: genai.HTTPOptions{BaseURL: base}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const geminiUsage = `"usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":200,"candidatesTokenCount":50,"thoughtsTokenCount":100,"totalTokenCount":1150}`

func TestGeminiGenerateContentAndStream(t *testing.T) {
	var paths []string
	srv, co, hc, in := setup(t, "gemini", func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path+"?"+r.URL.RawQuery)
		if strings.Contains(r.URL.Path, ":streamGenerateContent") {
			sse(w, []string{
				`data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"modelVersion":"gemini-2.5-flash","responseId":"r2"}`,
				`data: {"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP"}],` + geminiUsage + `,"modelVersion":"gemini-2.5-flash","responseId":"r2"}`,
			}, false)
			return
		}
		jsonReply(w, `{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"finishReason":"STOP"}],`+geminiUsage+`,"modelVersion":"gemini-2.5-flash","responseId":"r1"}`)
	})
	client := geminiClient(t, srv.URL, hc)
	resp, err := client.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	if err != nil || resp.Text() != "Hello" {
		t.Fatal(resp, err)
	}
	var text strings.Builder
	for chunk, err := range client.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(chunk.Text())
	}
	if text.String() != "Hello" {
		t.Fatal(text.String())
	}
	evs := shipped(t, co, in)
	if len(evs) != 2 {
		t.Fatalf("%d events (paths %v)", len(evs), paths)
	}
	for i, ev := range evs {
		// input = prompt − cached; output = candidates + thoughts; reasoning = thoughts
		want(t, ev, map[string]any{"provider": "gemini", "model": "gemini-2.5-flash", "cost_usd": "0.000621", "canonical_model": "gemini-2.5-flash",
			"streaming": i == 1, "provider_request_id": []string{"r1", "r2"}[i]})
		want(t, ev["usage"].(map[string]any), map[string]any{"input_tokens": 800, "cached_input_tokens": 200,
			"output_tokens": 150, "reasoning_tokens": 100})
	}
}

func TestGeminiStreamCutOffMidway(t *testing.T) {
	srv, co, hc, in := setup(t, "gemini", func(w http.ResponseWriter, r *http.Request) {
		sse(w, []string{`data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"modelVersion":"gemini-2.5-flash"}`}, true)
	})
	var failed error
	for _, err := range geminiClient(t, srv.URL, hc).Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			failed = err
		}
	}
	if failed == nil {
		t.Fatal("no error from a cut-off stream")
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "model": "gemini-2.5-flash", "streaming": true})
}

func TestGeminiErrorPassesThrough(t *testing.T) {
	srv, co, hc, in := setup(t, "gemini", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}`))
	})
	_, err := geminiClient(t, srv.URL, hc).Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	var apiErr genai.APIError
	if err == nil || !strings.Contains(err.Error(), "Resource exhausted") {
		t.Fatalf("error %v (%T)", err, apiErr)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "http_429", "model": "gemini-2.5-flash"})
}
