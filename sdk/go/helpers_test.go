package costobs

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeIngest is a loopback stand-in for POST /v1/events that records every batch.
type fakeIngest struct {
	*httptest.Server
	mu      sync.Mutex
	batches []ingestBatch
	answer  func(n int, b ingestBatch) (int, http.Header) // status per request (n from 0)
	calls   int
}

type ingestBatch struct {
	BatchID string            `json:"batch_id"`
	Events  []json.RawMessage `json:"events"`
	Gzip    bool
	Status  int
	Auth    string
	At      time.Time
}

func newFakeIngest(t *testing.T) *fakeIngest {
	f := &fakeIngest{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		gz := r.Header.Get("Content-Encoding") == "gzip"
		if gz {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("bad gzip: %v", err)
				w.WriteHeader(400)
				return
			}
			body = zr
		}
		var b ingestBatch
		if err := json.NewDecoder(body).Decode(&b); err != nil {
			t.Errorf("bad batch: %v", err)
			w.WriteHeader(400)
			return
		}
		b.Gzip, b.Auth, b.At = gz, r.Header.Get("Authorization"), time.Now()
		f.mu.Lock()
		n := f.calls
		f.calls++
		answer := f.answer
		f.mu.Unlock()
		status := 202
		if answer != nil {
			var h http.Header
			status, h = answer(n, b)
			for k, v := range h {
				w.Header()[k] = v
			}
		}
		b.Status = status
		f.mu.Lock()
		f.batches = append(f.batches, b)
		f.mu.Unlock()
		w.WriteHeader(status)
		if status == 202 {
			_ = json.NewEncoder(w).Encode(map[string]any{"accepted": len(b.Events), "duplicates": 0, "rejected": []any{}})
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIngest) setAnswer(a func(n int, b ingestBatch) (int, http.Header)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

// accepted returns the events of every batch answered 202, decoded.
func (f *fakeIngest) accepted(t *testing.T) []map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, b := range f.batches {
		if b.Status != 202 {
			continue
		}
		for _, raw := range b.Events {
			var ev map[string]any
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
	return out
}

func (f *fakeIngest) allBatches() []ingestBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ingestBatch(nil), f.batches...)
}

// newTestClient is a client shipping to ingest that fails the test on any SDK-internal error.
func newTestClient(t *testing.T, ingest string, cfg Config) *Client {
	t.Helper()
	cfg.IngestURL = ingest
	if cfg.APIKey == "" {
		cfg.APIKey = "costobs_dev_secret_key"
	}
	if cfg.OnInternalError == nil {
		cfg.OnInternalError = func(err error) { t.Errorf("SDK internal error: %v", err) }
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
