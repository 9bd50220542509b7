package providertest

// Failed and cut-off calls the provider bills: recorded with the usage known and a status
// saying which (error, timeout, cancelled). The Python SDK's tests/test_failed_calls.py with
// the real anthropic-sdk-go and openai-go; the providers are loopback fakes.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3/option"
)

// startFrames is a stream whose message_start reports cache reads and writes: the input the
// provider bills as soon as generation starts.
var startFrames = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_3\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null," +
		"\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":3000,\"cache_creation\":{\"ephemeral_5m_input_tokens\":1000,\"ephemeral_1h_input_tokens\":2000},\"cache_read_input_tokens\":7000,\"output_tokens\":1}}}",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":40}}",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}",
}

// knownAtStart is what message_start reported, as recorded; it costs (Python SDK, same table)
// 50 × 3 + 7000 × 0.30 + 1000 × 3.75 + 2000 × 6 + 1 × 15 per 1M.
var knownAtStart = map[string]any{"input_tokens": 50.0, "cached_input_tokens": 7000.0,
	"cache_write_5m_tokens": 1000.0, "cache_write_1h_tokens": 2000.0, "output_tokens": 1.0}

const knownAtStartCost = "0.018015"

// stalling sends frames, then stays silent until the client gives up (the body is read
// first: only then does the server notice a client hanging up).
func stalling(frames []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if len(frames) > 0 {
			sse(w, frames, false)
		}
		<-r.Context().Done()
	}
}

func TestProviderErrorMidStreamKeepsTheUsageItReported(t *testing.T) {
	frames := append(append([]string(nil), startFrames[:3]...),
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}")
	srv, co, hc, in := setup(t, "anthropic", func(w http.ResponseWriter, r *http.Request) { sse(w, frames, false) })
	stream := anthropicClient(srv.URL, hc).Messages.NewStreaming(context.Background(), messageParams())
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("the error event did not reach the caller")
	}
	_ = stream.Close()
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "overloaded_error", "streaming": true,
		"cost_usd": knownAtStartCost, "canonical_model": "claude-sonnet-4-5"})
	if !reflect.DeepEqual(u, knownAtStart) {
		t.Errorf("usage %v", u)
	}
}

func TestStreamTimingOutAfterGenerationStartedIsATimeoutWithKnownUsage(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", stalling(startFrames[:4]))
	client := anthropicClient(srv.URL, hc)
	stream := client.Messages.NewStreaming(context.Background(), messageParams(), aoption.WithRequestTimeout(300*time.Millisecond))
	seen := 0
	for stream.Next() {
		seen++
	}
	if seen != 4 || !errors.Is(stream.Err(), context.DeadlineExceeded) {
		t.Fatalf("%d events, %v", seen, stream.Err())
	}
	_ = stream.Close()
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"status": "timeout", "cost_usd": knownAtStartCost})
	if !reflect.DeepEqual(u, knownAtStart) || ev["time_to_first_token_ms"] == nil {
		t.Errorf("event %v", ev)
	}
}

func TestOpenAIStreamTimingOutIsATimeout(t *testing.T) {
	srv, co, hc, in := setup(t, "openai", stalling(chatStream(true)[:2]))
	stream := openaiClient(srv.URL, hc).Chat.Completions.NewStreaming(context.Background(), chatParams(),
		option.WithRequestTimeout(300*time.Millisecond))
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("a stalled stream ended cleanly")
	}
	_ = stream.Close()
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "timeout", "streaming": true, "model": "gpt-4o-2024-08-06"})
}

func TestRequestTimeoutBeforeAnyAnswer(t *testing.T) {
	srv, co, hc, in := setup(t, "openai", stalling(nil))
	_, err := openaiClient(srv.URL, hc).Chat.Completions.New(context.Background(), chatParams(),
		option.WithRequestTimeout(300*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	ev, u := one(t, co, in)
	// the model is the one asked for: no answer named it
	want(t, ev, map[string]any{"status": "timeout", "error_type": "timeout", "model": "gpt-4o", "cost_usd": "0",
		"canonical_model": "gpt-4o"})
	if len(u) != 0 {
		t.Errorf("usage %v", u)
	}
}

func TestCallerClosingAStreamAfterGenerationStartedIsCancelledWithKnownUsage(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", stalling(startFrames[:4]))
	stream := anthropicClient(srv.URL, hc).Messages.NewStreaming(context.Background(), messageParams())
	for i := 0; i < 3 && stream.Next(); i++ {
	}
	_ = stream.Close()
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"status": "cancelled", "cost_usd": knownAtStartCost})
	if !reflect.DeepEqual(u, knownAtStart) {
		t.Errorf("usage %v", u)
	}
}

func TestCallerCancellingTheContextMidStreamIsCancelled(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", stalling(startFrames[:4]))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := anthropicClient(srv.URL, hc).Messages.NewStreaming(ctx, messageParams())
	for i := 0; stream.Next(); i++ {
		if i == 3 {
			cancel()
		}
	}
	_ = stream.Close()
	if !errors.Is(stream.Err(), context.Canceled) {
		t.Fatalf("error %v", stream.Err())
	}
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"status": "cancelled", "error_type": "context_canceled", "cost_usd": knownAtStartCost})
	if !reflect.DeepEqual(u, knownAtStart) {
		t.Errorf("usage %v", u)
	}
}
