package providertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	costobs "github.com/officialasishkumar/costobs/sdk/go"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// costobsUp starts the real `costobs up` (embedded NATS, chDB, SQLite) on a free port and
// stops it, by its PID, when the test ends.
func costobsUp(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("COSTOBS_BIN")
	if bin == "" {
		t.Skip("COSTOBS_BIN unset: run through `make test` (it points at .venv/bin/costobs after `make install`)")
	}
	dir := t.TempDir()
	port := freePort(t)
	logPath := filepath.Join(dir, "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "up", "--data-dir", filepath.Join(dir, "data"), "--port", strconv.Itoa(port), "--no-dashboard")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "COSTOBS_WRITER_FLUSH_MS=100",
		"COSTOBS_ALERTD_PORT="+strconv.Itoa(freePort(t)), "COSTOBS_BILLSYNCD_PORT="+strconv.Itoa(freePort(t)))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("costobs up exited (%v):\n%s", err, out)
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := os.ReadFile(logPath)
	t.Fatalf("costobs up not ready:\n%s", out)
	return ""
}

func readAPI(t *testing.T, base, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer costobs_dev_secret_key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

// The SDK ships through a real `costobs up`; the read API gives the events back exactly.
func TestEndToEndThroughCostobsUp(t *testing.T) {
	base := costobsUp(t)
	co := costobs.New(costobs.Config{IngestURL: base, APIKey: "costobs_dev_secret_key", Team: "payments", Environment: "prod",
		OnInternalError: func(err error) { t.Errorf("SDK internal error: %v", err) }})
	defer co.Close()

	openaiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, `{"id":"chatcmpl-e2e","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",
		"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":1234,"completion_tokens":567,"total_tokens":1801,"prompt_tokens_details":{"cached_tokens":200}}}`)
	}))
	defer openaiSrv.Close()
	anthropicSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sse(w, anthropicStream, false) }))
	defer anthropicSrv.Close()
	ou, _ := url.Parse(openaiSrv.URL)
	au, _ := url.Parse(anthropicSrv.URL)
	// Gateways on loopback: the option maps their hosts to providers.
	co2 := costobs.New(costobs.Config{IngestURL: base, APIKey: "costobs_dev_secret_key", Team: "payments", Environment: "prod",
		ProviderHosts: map[string]string{ou.Host: "openai", au.Host: "anthropic"}})
	defer co2.Close()
	hc := &http.Client{Transport: co2.Transport(nil)}

	trace := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	ctx := costobs.WithMetadata(context.Background(), costobs.Metadata{CustomerID: "cust-42", Feature: "chat",
		TraceID: trace, Tags: map[string]string{"pr": "1234"}})
	if _, err := openaiClient(openaiSrv.URL, hc).Chat.Completions.New(ctx, chatParams()); err != nil {
		t.Fatal(err)
	}
	// An in-house gateway the SDK does not know: priced and recorded as the model it names,
	// by the SDK and again by the writer.
	gatewaySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, completion("anthropic/claude-sonnet-4-5", `{"prompt_tokens":2000,"completion_tokens":100,"total_tokens":2100}`))
	}))
	defer gatewaySrv.Close()
	if _, err := openaiClient(gatewaySrv.URL, &http.Client{Transport: co.Transport(nil)}).Chat.Completions.New(ctx,
		chatWith("anthropic/claude-sonnet-4-5")); err != nil {
		t.Fatal(err)
	}
	stream := anthropicClient(anthropicSrv.URL, hc).Messages.NewStreaming(ctx, messageParams())
	msg := anthropic.Message{}
	for stream.Next() {
		_ = msg.Accumulate(stream.Current())
	}
	if stream.Err() != nil {
		t.Fatal(stream.Err())
	}
	_ = stream.Close()
	if err := co.Record(ctx, costobs.Event{Provider: "elevenlabs", Model: "eleven_multilingual_v2", Operation: "audio",
		Usage: costobs.Usage{Characters: 1234}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*costobs.Client{co, co2} {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Flush(fctx); err != nil {
			t.Fatal(err, c.Stats())
		}
		cancel()
		if st := c.Stats(); st.DroppedTotal() != 0 {
			t.Fatalf("dropped: %+v", st)
		}
	}

	type item struct {
		Provider, Model, Operation, Status, Team, Environment, Feature string
		CustomerID                                                     string            `json:"customer_id"`
		TraceID                                                        string            `json:"trace_id"`
		Tags                                                           map[string]string `json:"tags"`
		InputTokens                                                    int64             `json:"input_tokens"`
		CachedInputTokens                                              int64             `json:"cached_input_tokens"`
		OutputTokens                                                   int64             `json:"output_tokens"`
		CostUSD                                                        string            `json:"cost_usd"`
	}
	var page struct{ Items []item }
	deadline := time.Now().Add(30 * time.Second)
	for {
		readAPI(t, base, "/v1/requests?trace_id="+trace, &page)
		if len(page.Items) == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(page.Items) != 4 {
		t.Fatalf("read back %d of 4 events", len(page.Items))
	}
	// Expected costs, worked by hand from pricing/prices.yaml:
	//   gpt-4o: 1034 × 2.50 + 200 × 1.25 + 567 × 10 per 1M = 0.008505
	//   claude-sonnet-4-5 stream: 100 × 3 + 40 × 15 per 1M = 0.0009
	//   anthropic/claude-sonnet-4-5 through the gateway: 2000 × 3 + 100 × 15 per 1M = 0.0075
	wantCost := map[string]string{"gpt-4o-2024-08-06": "0.008505", "claude-sonnet-4-5-20250929": "0.0009",
		"anthropic/claude-sonnet-4-5": "0.0075"}
	total := new(big.Rat)
	for _, it := range page.Items {
		if it.Team != "payments" || it.Environment != "prod" || it.CustomerID != "cust-42" || it.Feature != "chat" ||
			it.Tags["pr"] != "1234" || it.Status != "ok" {
			t.Errorf("attribution lost: %+v", it)
		}
		if w, ok := wantCost[it.Model]; ok && rat(t, it.CostUSD).Cmp(rat(t, w)) != 0 {
			t.Errorf("%s: cost %s, want %s", it.Model, it.CostUSD, w)
		}
		switch it.Model {
		case "gpt-4o-2024-08-06":
			if it.InputTokens != 1034 || it.CachedInputTokens != 200 || it.OutputTokens != 567 {
				t.Errorf("usage %+v", it)
			}
		case "claude-sonnet-4-5-20250929":
			if it.InputTokens != 100 || it.OutputTokens != 40 {
				t.Errorf("usage %+v", it)
			}
		case "anthropic/claude-sonnet-4-5":
			if it.Provider != "anthropic" || it.InputTokens != 2000 || it.OutputTokens != 100 {
				t.Errorf("gateway call %+v", it)
			}
		case "eleven_multilingual_v2":
		default:
			t.Errorf("unexpected event %+v", it)
		}
		total.Add(total, rat(t, it.CostUSD))
	}
	var summary struct {
		Totals struct {
			Requests int64  `json:"requests"`
			CostUSD  string `json:"cost_usd"`
		} `json:"totals"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		readAPI(t, base, "/v1/summary", &summary) // rollups: the same events, counted once
		if summary.Totals.Requests >= 4 || time.Now().After(deadline) {
			break
		}
	}
	if summary.Totals.Requests != 4 || rat(t, summary.Totals.CostUSD).Cmp(total) != 0 {
		t.Fatalf("summary %+v, want 4 requests costing %s", summary.Totals, total.FloatString(18))
	}
}
