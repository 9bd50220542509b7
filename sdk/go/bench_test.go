package costobs

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Benchmarks of what the RoundTripper adds on the caller's path, against the bare transport
// in the same run (`make go-bench`). The event itself is built, priced and shipped in the
// background goroutine, which is not on the caller's path.

const benchChat = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,"prompt_tokens_details":{"cached_tokens":0}}}`

// canned answers every request in memory: the benchmark measures the SDK, not a network.
type canned struct{ body []byte }

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

func benchClient(b *testing.B) *Client {
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(202)
	}))
	b.Cleanup(ingest.Close)
	c, err := NewClient(Config{IngestURL: ingest.URL, APIKey: "k", MaxQueueEvents: 1 << 20,
		ProviderHosts: map[string]string{"llm.bench": "openai"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func benchCall(b *testing.B, rt http.RoundTripper) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// as provider SDKs build requests: a replayable body (GetBody set)
		req, _ := http.NewRequest(http.MethodPost, "http://llm.bench/v1/chat/completions", bytes.NewReader(body))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		_ = resp.Body.Close()
	}
}

// BenchmarkNonStreamed: one non-streamed chat call, read to the end and closed.
func BenchmarkNonStreamed(b *testing.B) {
	base := canned{[]byte(benchChat)}
	b.Run("bare", func(b *testing.B) { benchCall(b, base) })
	b.Run("observed", func(b *testing.B) { benchCall(b, benchClient(b).Transport(base)) })
	// The caller's path alone: a closed client still observes, and drops the finished event
	// at submit, so the shipper goroutine's work (parse, price, serialise, send) is left out.
	b.Run("observed-caller-path", func(b *testing.B) {
		c := benchClient(b)
		_ = c.Close()
		benchCall(b, c.Transport(base))
	})
}

// BenchmarkStreamFirstByte: time to the first streamed byte over loopback, with the provider
// holding the rest of the stream back. Bare and observed requests alternate in one loop, so
// both see the same machine load; the figures to compare are the two ttfb metrics.
func BenchmarkStreamFirstByte(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks)
		w.(http.Flusher).Flush()
		time.Sleep(2 * time.Millisecond) // the rest of the stream comes later
		_, _ = io.WriteString(w, usageChunk+"data: [DONE]\n\n")
	}))
	b.Cleanup(srv.Close)
	c := benchClient(b)
	c.detect.extra[strings.TrimPrefix(srv.URL, "http://")] = "openai"
	firstByte := func(client *http.Client, body string, buf []byte) time.Duration {
		start := time.Now()
		resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if n, err := resp.Body.Read(buf); n == 0 {
			b.Fatal(err)
		}
		took := time.Since(start)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return took
	}
	for _, mode := range []struct{ name, body string }{
		{"caller-asked-usage", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`},
		{"usage-injected", `{"model":"gpt-4o","stream":true}`},
	} {
		b.Run(mode.name, func(b *testing.B) {
			bare := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
			observed := &http.Client{Transport: c.Transport(http.DefaultTransport.(*http.Transport).Clone())}
			buf := make([]byte, 4096)
			var tBare, tObserved time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tBare += firstByte(bare, mode.body, buf)
				tObserved += firstByte(observed, mode.body, buf)
			}
			b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "ttfb-bare-ns/op")
			b.ReportMetric(float64(tObserved.Nanoseconds())/float64(b.N), "ttfb-observed-ns/op")
		})
	}
}
