package providertest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func anthropicClient(base string, hc *http.Client) *anthropic.Client {
	c := anthropic.NewClient(option.WithBaseURL(base), option.WithAPIKey("sk-ant-test"),
		option.WithHTTPClient(hc), option.WithMaxRetries(0))
	return &c
}

func messageParams() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
}

// Thinking tokens are inside output_tokens; cache writes are split by TTL.
func TestAnthropicMessageWithThinkingAndCacheTTLs(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
		"content":[{"type":"thinking","thinking":"…","signature":"sig"},{"type":"text","text":"ok"}],
		"stop_reason":"end_turn","stop_sequence":null,
		"usage":{"input_tokens":100,"cache_creation_input_tokens":300,"cache_read_input_tokens":1000,
		"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":100},
		"output_tokens":500,"output_tokens_details":{"thinking_tokens":400},"service_tier":"standard"}}`)
	})
	msg, err := anthropicClient(srv.URL, hc).Messages.New(costobsCtx(), messageParams())
	if err != nil || len(msg.Content) != 2 {
		t.Fatal(msg, err)
	}
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"provider": "anthropic", "model": "claude-sonnet-4-5-20250929", "cost_usd": "0.00945",
		"canonical_model": "claude-sonnet-4-5",
		"service_tier":    "standard", "provider_request_id": "msg_1", "customer_id": "cust-42"})
	want(t, u, map[string]any{"input_tokens": 100, "cached_input_tokens": 1000, "cache_write_5m_tokens": 200,
		"cache_write_1h_tokens": 100, "output_tokens": 500, "reasoning_tokens": 400})
}

var anthropicStream = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":40}}",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}",
}

func TestAnthropicStreamKeepsLatestCumulativeUsage(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", func(w http.ResponseWriter, r *http.Request) { sse(w, anthropicStream, false) })
	stream := anthropicClient(srv.URL, hc).Messages.NewStreaming(context.Background(), messageParams())
	msg := anthropic.Message{}
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Err() != nil || msg.Usage.OutputTokens != 40 {
		t.Fatal(stream.Err(), msg.Usage)
	}
	_ = stream.Close()
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"streaming": true, "cost_usd": "0.0009", "status": "ok"})
	want(t, u, map[string]any{"input_tokens": 100, "output_tokens": 40})
}

func TestAnthropicStreamCutOffMidway(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", func(w http.ResponseWriter, r *http.Request) { sse(w, anthropicStream[:3], true) })
	stream := anthropicClient(srv.URL, hc).Messages.NewStreaming(context.Background(), messageParams())
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("no error from a cut-off stream")
	}
	_ = stream.Close()
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "model": "claude-sonnet-4-5-20250929"})
	want(t, u, map[string]any{"input_tokens": 100, "output_tokens": 1})
}

func TestAnthropicOverloadedPassesThrough(t *testing.T) {
	srv, co, hc, in := setup(t, "anthropic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	})
	_, err := anthropicClient(srv.URL, hc).Messages.New(context.Background(), messageParams())
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 {
		t.Fatalf("error %v", err)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "http_529", "provider": "anthropic"})
}
