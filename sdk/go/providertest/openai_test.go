package providertest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

func openaiClient(base string, hc *http.Client) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("sk-test"),
		option.WithHTTPClient(hc), option.WithMaxRetries(0))
	return &c
}

func chatParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
}

func TestOpenAIChat(t *testing.T) {
	srv, co, hc, in := setup(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","service_tier":"default",
		"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,"prompt_tokens_details":{"cached_tokens":0}}}`)
	})
	ctx := costobsCtx()
	resp, err := openaiClient(srv.URL, hc).Chat.Completions.New(ctx, chatParams())
	if err != nil || resp.Choices[0].Message.Content != "hello" {
		t.Fatal(resp, err)
	}
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"provider": "openai", "model": "gpt-4o-2024-08-06", "operation": "chat",
		"cost_usd": "0.0027", "status": "ok", "streaming": false, "team": "payments", "customer_id": "cust-42",
		"feature": "chat", "provider_request_id": "chatcmpl-1"})
	want(t, u, map[string]any{"input_tokens": 1000, "output_tokens": 20})
}

func TestOpenAIChatStreamHidesTheInjectedUsageChunk(t *testing.T) {
	var sent string
	srv, co, hc, in := setup(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sent = string(b)
		sse(w, []string{
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}`,
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,"completion_tokens_details":{"reasoning_tokens":0}}}`,
			`data: [DONE]`,
		}, false)
	})
	stream := openaiClient(srv.URL, hc).Chat.Completions.NewStreaming(context.Background(), chatParams())
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		chunk := stream.Current()
		chunks++
		if len(chunk.Choices) == 0 || chunk.Usage.TotalTokens != 0 {
			t.Fatalf("the caller saw the usage chunk it did not ask for: %+v", chunk)
		}
		text.WriteString(chunk.Choices[0].Delta.Content)
	}
	if err := stream.Err(); err != nil || text.String() != "Hello" || chunks != 2 {
		t.Fatal(text.String(), chunks, err)
	}
	_ = stream.Close()
	if !strings.Contains(sent, `"stream_options":{"include_usage":true}`) {
		t.Fatalf("request %s", sent)
	}
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"streaming": true, "cost_usd": "0.0027", "model": "gpt-4o-2024-08-06"})
	want(t, u, map[string]any{"input_tokens": 1000, "output_tokens": 20})
}

func TestOpenAIChatStreamCutOffMidway(t *testing.T) {
	srv, co, hc, in := setup(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		sse(w, []string{
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
		}, true)
	})
	stream := openaiClient(srv.URL, hc).Chat.Completions.NewStreaming(context.Background(), chatParams())
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("a cut-off stream ended without an error")
	}
	_ = stream.Close()
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "stream_interrupted", "model": "gpt-4o-2024-08-06", "cost_usd": "0"})
}

func TestOpenAIResponsesAndStream(t *testing.T) {
	final := `{"id":"resp_1","object":"response","created_at":1,"model":"gpt-5-2025-08-07","status":"completed","output":[],
	"usage":{"input_tokens":2000,"input_tokens_details":{"cached_tokens":1000},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":200},"total_tokens":2300}}`
	srv, co, hc, in := setup(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(readAll(r), `"stream":true`) {
			sse(w, []string{
				"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"model\":\"gpt-5-2025-08-07\",\"status\":\"in_progress\",\"output\":[]}}",
				"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,\"response\":" + strings.ReplaceAll(final, "\n", "") + "}",
			}, false)
			return
		}
		jsonReply(w, final)
	})
	client := openaiClient(srv.URL, hc)
	params := responses.ResponseNewParams{Model: "gpt-5", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}
	if _, err := client.Responses.New(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	stream := client.Responses.NewStreaming(context.Background(), params)
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() != nil || n != 2 {
		t.Fatal(n, stream.Err())
	}
	_ = stream.Close()
	evs := shipped(t, co, in)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		// 1000 × 1.25 + 1000 × 0.125 + 300 × 10 per 1M (gpt-5)
		want(t, ev, map[string]any{"operation": "responses", "model": "gpt-5-2025-08-07", "cost_usd": "0.004375",
			"streaming": i == 1, "provider_request_id": "resp_1"})
		want(t, ev["usage"].(map[string]any), map[string]any{"input_tokens": 1000, "cached_input_tokens": 1000,
			"output_tokens": 300, "reasoning_tokens": 200})
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	srv, co, hc, in := setup(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5000,"total_tokens":5000}}`)
	})
	_, err := openaiClient(srv.URL, hc).Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
	if err != nil {
		t.Fatal(err)
	}
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"operation": "embedding", "cost_usd": "0.0001"})
	want(t, u, map[string]any{"input_tokens": 5000})
}

func TestOpenAIErrorPassesThroughUnchanged(t *testing.T) {
	srv, co, hc, in := setup(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":{"message":"bad model","type":"invalid_request_error","code":"model_not_found"}}`)
	})
	_, err := openaiClient(srv.URL, hc).Chat.Completions.New(context.Background(), chatParams())
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "model_not_found" || apiErr.Message != "bad model" {
		t.Fatalf("error %v", err)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "http_400"})
}

// An OpenAI-compatible host with its quirks: xAI's reasoning outside completion_tokens and
// its own cost in ticks (include_usage is injected: xAI accepts it).
func TestOpenAICompatibleXAI(t *testing.T) {
	srv, co, hc, in := setup(t, "xai", func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, `{"id":"x1","object":"chat.completion","created":1,"model":"grok-4","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":100,"completion_tokens":10,"total_tokens":200,"completion_tokens_details":{"reasoning_tokens":90},"cost_in_usd_ticks":12345678}}`)
	})
	if _, err := openaiClient(srv.URL, hc).Chat.Completions.New(context.Background(), chatParams()); err != nil {
		t.Fatal(err)
	}
	ev, u := one(t, co, in)
	want(t, ev, map[string]any{"provider": "xai", "provider_cost_usd": "0.0012345678"})
	want(t, u, map[string]any{"input_tokens": 100, "output_tokens": 100, "reasoning_tokens": 90})
}

func readAll(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}
