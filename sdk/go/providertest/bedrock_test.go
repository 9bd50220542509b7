package providertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

const bedrockModel = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

// seen is what one side of the SDK's transport saw of a request.
type seen struct {
	auth, date string
	body       []byte
}

// recorder sits between the AWS SDK and the CostObs transport: what it records is what
// the SDK signed; the fake server records what arrived. They must be identical.
type recorder struct {
	next http.RoundTripper
	got  []seen
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body) // the AWS SDK's body has no GetBody: read and put back
	req.Body = io.NopCloser(bytes.NewReader(body))
	r.got = append(r.got, seen{req.Header.Get("Authorization"), req.Header.Get("X-Amz-Date"), body})
	return r.next.RoundTrip(req)
}

func bedrockClient(base string, rt http.RoundTripper) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(base), HTTPClient: &http.Client{Transport: rt},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", Source: "test"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

func converseInput() *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{ModelId: aws.String(bedrockModel), Messages: []types.Message{{
		Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}}
}

func frame(t *testing.T, w io.Writer, event, payload string) {
	t.Helper()
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue(event))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	if err := eventstream.NewEncoder().Encode(w, eventstream.Message{Headers: h, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

func TestBedrockConverseAndStreamLeaveSigV4Untouched(t *testing.T) {
	var arrived []seen
	srv, co, hc, in := setup(t, "bedrock", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		arrived = append(arrived, seen{r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), body})
		if strings.HasSuffix(r.URL.Path, "/converse-stream") {
			w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
			frame(t, w, "messageStart", `{"role":"assistant"}`)
			frame(t, w, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"ok"}}`)
			w.(http.Flusher).Flush()
			frame(t, w, "messageStop", `{"stopReason":"end_turn"}`)
			frame(t, w, "metadata", `{"usage":{"inputTokens":1000,"outputTokens":50,"totalTokens":1050},"metrics":{"latencyMs":12}}`)
			return
		}
		jsonReply(w, `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn",
		"usage":{"inputTokens":10,"outputTokens":5,"totalTokens":315,"cacheReadInputTokens":100,"cacheWriteInputTokens":300,
		"cacheDetails":[{"ttl":"1h","inputTokens":200}]},"metrics":{"latencyMs":10}}`)
	})
	rec := &recorder{next: hc.Transport}
	client := bedrockClient(srv.URL, rec)
	out, err := client.Converse(costobsCtx(), converseInput())
	if err != nil {
		t.Fatal(err)
	}
	if text := out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value; text != "ok" {
		t.Fatal(text)
	}
	stream, err := client.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
		ModelId: converseInput().ModelId, Messages: converseInput().Messages})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var usage *types.TokenUsage
	for ev := range stream.GetStream().Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			text.WriteString(e.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
		case *types.ConverseStreamOutputMemberMetadata:
			usage = e.Value.Usage
		}
	}
	if err := stream.GetStream().Err(); err != nil || text.String() != "ok" || usage == nil || *usage.OutputTokens != 50 {
		t.Fatal(text.String(), usage, err)
	}
	_ = stream.GetStream().Close()
	if len(rec.got) != 2 || len(arrived) != 2 {
		t.Fatalf("%d signed, %d arrived", len(rec.got), len(arrived))
	}
	for i := range arrived {
		if rec.got[i].auth == "" || rec.got[i].auth != arrived[i].auth || rec.got[i].date != arrived[i].date ||
			!bytes.Equal(rec.got[i].body, arrived[i].body) {
			t.Fatalf("request %d changed on its way: signed %+v, arrived %+v", i, rec.got[i], arrived[i])
		}
	}
	evs := shipped(t, co, in)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	want(t, evs[0], map[string]any{"provider": "bedrock", "model": "anthropic.claude-sonnet-4-5-20250929-v1:0",
		"region": "us", "cost_usd": "0.001881", "streaming": false, "customer_id": "cust-42",
		"canonical_model": "claude-sonnet-4-5"}) // one name across clouds, as Anthropic's own API
	want(t, evs[0]["usage"].(map[string]any), map[string]any{"input_tokens": 10, "cached_input_tokens": 100,
		"cache_write_5m_tokens": 100, "cache_write_1h_tokens": 200, "output_tokens": 5})
	want(t, evs[1], map[string]any{"cost_usd": "0.004125", "streaming": true, "status": "ok"})
	want(t, evs[1]["usage"].(map[string]any), map[string]any{"input_tokens": 1000, "output_tokens": 50})
}

func TestBedrockStreamCutOffMidway(t *testing.T) {
	srv, co, hc, in := setup(t, "bedrock", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.Header().Set("Content-Length", "100000")
		frame(t, w, "messageStart", `{"role":"assistant"}`)
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	})
	stream, err := bedrockClient(srv.URL, hc.Transport).ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String(bedrockModel), Messages: converseInput().Messages})
	if err != nil {
		t.Fatal(err)
	}
	for range stream.GetStream().Events() {
	}
	_ = stream.GetStream().Close()
	t.Logf("the AWS SDK reports the cut-off as: %v", stream.GetStream().Err())
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "streaming": true, "model": "anthropic.claude-sonnet-4-5-20250929-v1:0"})
}

func TestBedrockErrorPassesThrough(t *testing.T) {
	srv, co, hc, in := setup(t, "bedrock", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "ThrottlingException")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"message":"Too many requests"}`))
	})
	_, err := bedrockClient(srv.URL, hc.Transport).Converse(context.Background(), converseInput())
	var throttled *types.ThrottlingException
	if err == nil || !strings.Contains(err.Error(), "Too many requests") || !asThrottling(err, &throttled) {
		t.Fatalf("error %v", err)
	}
	ev, _ := one(t, co, in)
	want(t, ev, map[string]any{"status": "error", "error_type": "http_429"})
}

func asThrottling(err error, target **types.ThrottlingException) bool { return errors.As(err, target) }
