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
}

// BenchmarkStreamFirstByte: time to the first streamed byte over loopback, with the
// provider holding the rest of the stream back (ttfb-ns/op is the figure to compare).
func BenchmarkStreamFirstByte(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatChunks)
		w.(http.Flusher).Flush()
		time.Sleep(200 * time.Microsecond)
		_, _ = io.WriteString(w, usageChunk+"data: [DONE]\n\n")
	}))
	b.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	run := func(b *testing.B, rt http.RoundTripper, body string) {
		client := &http.Client{Transport: rt}
		var first time.Duration
		buf := make([]byte, 4096)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := resp.Body.Read(buf); err != nil {
				b.Fatal(err)
			}
			first += time.Since(start)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		b.ReportMetric(float64(first.Nanoseconds())/float64(b.N), "ttfb-ns/op")
	}
	asked := `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`
	b.Run("bare", func(b *testing.B) { run(b, http.DefaultTransport.(*http.Transport).Clone(), asked) })
	b.Run("observed", func(b *testing.B) {
		c := benchClient(b)
		c.detect.extra[host] = "openai"
		run(b, c.Transport(http.DefaultTransport.(*http.Transport).Clone()), asked)
	})
	b.Run("observed-injected", func(b *testing.B) {
		c := benchClient(b)
		c.detect.extra[host] = "openai"
		run(b, c.Transport(http.DefaultTransport.(*http.Transport).Clone()), `{"model":"gpt-4o","stream":true}`)
	})
}
