package providertest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	costobs "github.com/officialasishkumar/costobs/sdk/go"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// wireSchema is sdk/wire-schema.v1.json, compiled once: every batch the SDK sends in these
// tests is validated against it.
var wireSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	data, err := os.ReadFile("../../wire-schema.v1.json")
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const id = "https://costobs.dev/schemas/wire-v1.json"
	if err := c.AddResource(id, doc); err != nil {
		return nil, err
	}
	return c.Compile(id)
})

// ingest is a loopback POST /v1/events that validates each batch against the wire schema.
type ingest struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
}

func newIngest(t *testing.T) *ingest {
	t.Helper()
	schema, err := wireSchema()
	if err != nil {
		t.Fatal(err)
	}
	in := &ingest{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("batch not gzipped: %v", err)
			return
		}
		raw, _ := io.ReadAll(zr)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err == nil {
			err = schema.Validate(inst)
		}
		if err != nil {
			t.Errorf("batch breaks the wire schema: %v\n%s", err, raw)
			w.WriteHeader(400)
			return
		}
		var batch struct {
			Events []map[string]any `json:"events"`
		}
		_ = json.Unmarshal(raw, &batch)
		in.mu.Lock()
		in.events = append(in.events, batch.Events...)
		in.mu.Unlock()
		w.WriteHeader(202)
		_, _ = w.Write([]byte(`{"accepted":` + itoa(len(batch.Events)) + `,"duplicates":0,"rejected":[]}`))
	}))
	t.Cleanup(in.Close)
	return in
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// setup starts a fake provider and a CostObs client observing it as provider.
func setup(t *testing.T, provider string, h http.HandlerFunc) (*httptest.Server, *costobs.Client, *http.Client, *ingest) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	co, hc, in := observe(t, costobs.Config{ProviderHosts: map[string]string{u.Host: provider}})
	return srv, co, hc, in
}

// observe starts a CostObs client with cfg (shipping to a fresh ingest) and an http.Client
// observed by it.
func observe(t *testing.T, cfg costobs.Config) (*costobs.Client, *http.Client, *ingest) {
	t.Helper()
	in := newIngest(t)
	cfg.IngestURL, cfg.APIKey, cfg.Team, cfg.Environment = in.URL, "costobs_dev_secret_key", "payments", "test"
	cfg.OnInternalError = func(err error) { t.Errorf("SDK internal error: %v", err) }
	co, err := costobs.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = co.Close() })
	return co, &http.Client{Transport: co.Transport(nil)}, in
}

// shipped flushes and returns every event the ingest accepted.
func shipped(t *testing.T, co *costobs.Client, in *ingest) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := co.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]map[string]any(nil), in.events...)
}

// one asserts exactly one event and returns it with its usage.
func one(t *testing.T, co *costobs.Client, in *ingest) (map[string]any, map[string]any) {
	t.Helper()
	evs := shipped(t, co, in)
	if len(evs) != 1 {
		t.Fatalf("want 1 event, got %d: %v", len(evs), evs)
	}
	u, _ := evs[0]["usage"].(map[string]any)
	return evs[0], u
}

// want compares selected fields of an event (numbers as JSON decodes them).
func want(t *testing.T, got map[string]any, fields map[string]any) {
	t.Helper()
	for k, v := range fields {
		if n, ok := v.(int); ok {
			v = float64(n)
		}
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v; event %v", k, got[k], got[k], v, got)
		}
	}
}

// sse writes Server-Sent Events, flushing each one; cut hangs up before the end.
func sse(w http.ResponseWriter, events []string, cut bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	if cut {
		w.Header().Set("Content-Length", "1000000")
	}
	for _, e := range events {
		_, _ = io.WriteString(w, e+"\n\n")
		w.(http.Flusher).Flush()
	}
	if cut {
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}
}

func jsonReply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}
