package costobs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const chatChunks = `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

`

const usageChunk = `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":200}}}

`

// fakeProvider serves one handler on loopback; the returned client observes it as provider.
func fakeProvider(t *testing.T, provider string, h http.HandlerFunc) (*httptest.Server, *Client, *fakeIngest) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ingest := newFakeIngest(t)
	u, _ := url.Parse(srv.URL)
	c := newTestClient(t, ingest.URL, Config{ProviderHosts: map[string]string{u.Host: provider}})
	return srv, c, ingest
}

func events(t *testing.T, c *Client, ingest *fakeIngest) []map[string]any {
	t.Helper()
	flush(t, c, 5*time.Second)
	return ingest.accepted(t)
}

func post(t *testing.T, c *Client, target, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: c.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// An unknown host is observed only on the OpenAI API paths (a gateway); anything else it
// serves goes to the base transport untouched.
func TestUnknownHostPassesThroughByteForByte(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks+usageChunk)
	}))
	defer srv.Close()
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{})
	body := `{"model":"gpt-4o","stream":true,"messages":[]}`
	for _, path := range []string{"/v1/files", "/v1/chat/completions/extra", "/api/generate"} {
		resp := post(t, c, srv.URL+path, body)
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(got) != body || string(out) != chatChunks+usageChunk {
			t.Fatalf("%s altered: sent %q, read %q", path, got, out)
		}
	}
	resp, err := (&http.Client{Transport: c.Transport(nil)}).Get(srv.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if ev := events(t, c, ingest); len(ev) != 0 {
		t.Fatalf("unknown host recorded: %v", ev)
	}
}

func TestChatStreamGetsIncludeUsageAndHidesTheUsageChunk(t *testing.T) {
	var sent []byte
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks+usageChunk+"data: [DONE]\n\n")
	})
	ctx := WithMetadata(context.Background(), Metadata{CustomerID: "cust-42", Tags: map[string]string{"pr": "1234"}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[]}`))
	resp, err := (&http.Client{Transport: c.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !bytes.Contains(sent, []byte(`"stream_options":{"include_usage":true}`)) {
		t.Fatalf("include_usage not injected: %s", sent)
	}
	if string(out) != chatChunks+"data: [DONE]\n\n" {
		t.Fatalf("the caller saw %q", out)
	}
	ev := events(t, c, ingest)
	if len(ev) != 1 {
		t.Fatalf("%d events", len(ev))
	}
	u := ev[0]["usage"].(map[string]any)
	// 1000 uncached × 2.50 + 200 cached × 1.25 + 20 × 10 per 1M
	if u["input_tokens"] != 1000.0 || u["cached_input_tokens"] != 200.0 || u["output_tokens"] != 20.0 ||
		ev[0]["cost_usd"] != "0.00295" || ev[0]["streaming"] != true || ev[0]["customer_id"] != "cust-42" ||
		ev[0]["tags"].(map[string]any)["pr"] != "1234" || ev[0]["model"] != "gpt-4o-2024-08-06" {
		t.Fatalf("event %v", ev[0])
	}
	if _, ok := ev[0]["time_to_first_token_ms"]; !ok {
		t.Fatal("no time to first token")
	}
}

func TestCallerAskedUsageIsNotTouched(t *testing.T) {
	for _, body := range []string{`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
		`{"model":"gpt-4o","stream":true,"stream_options":null,"messages":[]}`} {
		callerAskedUsage(t, body)
	}
}

func callerAskedUsage(t *testing.T, body string) {
	t.Helper()
	var sent []byte
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks+usageChunk)
	})
	resp := post(t, c, srv.URL+"/v1/chat/completions", body)
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(sent) != body || string(out) != chatChunks+usageChunk {
		t.Fatalf("sent %s / read %q", sent, out)
	}
	if ev := events(t, c, ingest); len(ev) != 1 || ev[0]["usage"].(map[string]any)["output_tokens"] != 20.0 {
		t.Fatalf("events %v", ev)
	}
}

// A provider SDK's retry replays the body through GetBody: it must be the body sent.
func TestInjectedBodyIsReplayable(t *testing.T) {
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{ProviderHosts: map[string]string{"llm.internal": "openai"}})
	var first, replay []byte
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		first, _ = io.ReadAll(r.Body)
		rc, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		replay, _ = io.ReadAll(rc)
		if r.ContentLength != int64(len(first)) {
			t.Errorf("ContentLength %d for a %d-byte body", r.ContentLength, len(first))
		}
		return &http.Response{StatusCode: 500, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})
	req, _ := http.NewRequest(http.MethodPost, "http://llm.internal/v1/chat/completions",
		bytes.NewReader([]byte(`{"model":"m","stream":true}`)))
	resp, err := c.Transport(base).RoundTrip(req)
	if err != nil || resp.StatusCode != 500 {
		t.Fatal(resp, err)
	}
	if string(first) != `{"stream_options":{"include_usage":true},"model":"m","stream":true}` || !bytes.Equal(first, replay) {
		t.Fatalf("sent %s, replay %s", first, replay)
	}
	ev := events(t, c, ingest)
	if len(ev) != 1 || ev[0]["status"] != "error" || ev[0]["error_type"] != "http_500" || ev[0]["model"] != "m" {
		t.Fatalf("events %v", ev)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestStreamClosedEarlyYieldsOneEvent(t *testing.T) {
	release := make(chan struct{})
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks)
		w.(http.Flusher).Flush()
		<-release
	})
	defer close(release)
	resp := post(t, c, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`)
	buf := make([]byte, 4096)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	_ = resp.Body.Close()
	ev := events(t, c, ingest)
	if len(ev) != 1 || ev[0]["status"] != "cancelled" || ev[0]["model"] != "gpt-4o-2024-08-06" {
		t.Fatalf("events %v", ev)
	}
}

func TestStreamCutOffMidwayKeepsUsageSeen(t *testing.T) {
	srv, c, ingest := fakeProvider(t, "anthropic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", "100000") // promise more than is sent, then hang up
		_, _ = io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n"+
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":40}}\n\n")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	})
	resp := post(t, c, srv.URL+"/v1/messages", `{"model":"claude-sonnet-4-5","stream":true}`)
	_, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil {
		t.Fatal("the cut-off stream ended cleanly")
	}
	ev := events(t, c, ingest)
	if len(ev) != 1 || ev[0]["status"] != "error" || ev[0]["error_type"] != "stream_interrupted" {
		t.Fatalf("events %v", ev)
	}
	u := ev[0]["usage"].(map[string]any)
	if u["input_tokens"] != 100.0 || u["output_tokens"] != 40.0 {
		t.Fatalf("usage %v", u)
	}
}

// The first streamed bytes reach the caller as soon as the provider sends them.
func TestNoAddedDelayToFirstStreamedByte(t *testing.T) {
	for _, stream := range []string{`"stream_options":{"include_usage":true},`, ``} {
		release := make(chan struct{})
		srv, c, _ := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, chatChunks)
			w.(http.Flusher).Flush()
			<-release
			_, _ = io.WriteString(w, usageChunk)
		})
		start := time.Now()
		resp := post(t, c, srv.URL+"/v1/chat/completions", `{`+stream+`"model":"gpt-4o","stream":true}`)
		buf := make([]byte, 4096)
		n, err := resp.Body.Read(buf)
		waited := time.Since(start)
		close(release)
		if err != nil || n == 0 || waited > 2*time.Second {
			t.Fatalf("first read: %d bytes, %v, after %s", n, err, waited)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}

func TestProviderErrorPassesThroughUnchanged(t *testing.T) {
	const answer = `{"error":{"message":"Rate limit","type":"rate_limit_error"}}`
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(429)
		_, _ = io.WriteString(w, answer)
	})
	resp := post(t, c, srv.URL+"/v1/responses", `{"model":"gpt-5"}`)
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 429 || string(out) != answer || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if ev := events(t, c, ingest); len(ev) != 1 || ev[0]["error_type"] != "http_429" || ev[0]["operation"] != "responses" {
		t.Fatalf("events %v", ev)
	}
}

func TestHugeJSONBodyKeepsTheTailUsage(t *testing.T) {
	pad := strings.Repeat("0.0123456789,", (maxKeep/13)+1000)
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"embedding":[`+pad+`0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5000,"total_tokens":5000}}`)
	})
	resp := post(t, c, srv.URL+"/v1/embeddings", `{"model":"text-embedding-3-small"}`)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	ev := events(t, c, ingest)
	if len(ev) != 1 || ev[0]["usage"].(map[string]any)["input_tokens"] != 5000.0 || ev[0]["cost_usd"] != "0.0001" {
		t.Fatalf("events %v", ev)
	}
}

// A JSON decoder that stops at the end of the value and closes the body: a complete call.
func TestJSONBodyClosedAtTheEndOfTheValueIsComplete(t *testing.T) {
	srv, c, ingest := fakeProvider(t, "anthropic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":100,"output_tokens":40}}`)
		w.(http.Flusher).Flush() // chunked: no Content-Length to compare against
		_, _ = io.WriteString(w, "\n")
	})
	resp := post(t, c, srv.URL+"/v1/messages", `{}`)
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if ev := events(t, c, ingest); len(ev) != 1 || ev[0]["status"] != "ok" || ev[0]["cost_usd"] != "0.0009" {
		t.Fatalf("events %v", ev)
	}
}

func TestResponsesStreamWithoutEventLines(t *testing.T) {
	srv, c, ingest := fakeProvider(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"type":"response.completed","response":{"id":"r","model":"gpt-4o","usage":{"input_tokens":1000,"output_tokens":20}}}`+"\n\n")
	})
	resp := post(t, c, srv.URL+"/v1/responses", `{"model":"gpt-4o","stream":true}`)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if ev := events(t, c, ingest); len(ev) != 1 || ev[0]["cost_usd"] != "0.0027" {
		t.Fatalf("events %v", ev)
	}
}

// A provider SDK closes the body right after the stream's last event, before reading EOF:
// the call is complete.
func TestStreamClosedAfterItsLastEventIsComplete(t *testing.T) {
	for _, tc := range []struct{ provider, path, stream string }{
		{"openai", "/v1/chat/completions", chatChunks + usageChunk + "data: [DONE]\n\n"},
		{"anthropic", "/v1/messages", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
	} {
		release := make(chan struct{})
		srv, c, ingest := fakeProvider(t, tc.provider, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, tc.stream)
			w.(http.Flusher).Flush()
			<-release // EOF has not come yet when the caller closes
		})
		resp := post(t, c, srv.URL+tc.path, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`)
		buf := make([]byte, 0, 4096)
		for !bytes.Contains(buf, []byte("[DONE]")) && !bytes.Contains(buf, []byte("message_stop\"")) {
			n, err := resp.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				t.Fatal(err)
			}
		}
		_ = resp.Body.Close()
		close(release)
		if ev := events(t, c, ingest); len(ev) != 1 || ev[0]["status"] != "ok" {
			t.Fatalf("%s: events %v", tc.provider, ev)
		}
	}
}
