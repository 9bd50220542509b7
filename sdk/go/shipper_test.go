package costobs

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func record(t *testing.T, c *Client, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := c.Record(context.Background(), Event{Provider: "openai", Model: "gpt-4o",
			Usage: Usage{InputTokens: 1000, OutputTokens: 20}}); err != nil {
			t.Fatal(err)
		}
	}
}

func flush(t *testing.T, c *Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, c.Stats())
	}
}

func TestBatchesAreGzippedPricedAndAuthorised(t *testing.T) {
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{Team: "payments", Environment: "prod", MaxBatchEvents: 3})
	record(t, c, 7)
	flush(t, c, 5*time.Second)
	batches := ingest.allBatches()
	if len(batches) != 3 {
		t.Fatalf("want batches of 3+3+1, got %d batches", len(batches))
	}
	for _, b := range batches {
		if !b.Gzip || b.Auth != "Bearer costobs_dev_secret_key" || b.BatchID == "" {
			t.Fatalf("batch %+v", b)
		}
	}
	events := ingest.accepted(t)
	if len(events) != 7 {
		t.Fatalf("%d events", len(events))
	}
	ev := events[0]
	// 1000 × $2.50/1M + 20 × $10/1M, exact, as a decimal string.
	if ev["cost_usd"] != "0.0027" || ev["team"] != "payments" || ev["environment"] != "prod" ||
		ev["sdk_language"] != "go" || ev["pricing_version"] == "" || ev["status"] != "ok" {
		t.Fatalf("event %v", ev)
	}
	st := c.Stats()
	if st.Sent != 7 || st.Batches != 3 || st.Queued != 0 || st.DroppedTotal() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetryKeepsBatchIDAndHonoursRetryAfter(t *testing.T) {
	ingest := newFakeIngest(t)
	ingest.setAnswer(func(n int, _ ingestBatch) (int, http.Header) {
		if n == 0 {
			return 503, http.Header{"Retry-After": {"1"}}
		}
		return 202, nil
	})
	c := newTestClient(t, ingest.URL, Config{BackoffBase: 10 * time.Millisecond})
	record(t, c, 2)
	flush(t, c, 5*time.Second)
	b := ingest.allBatches()
	if len(b) != 2 || b[0].BatchID != b[1].BatchID {
		t.Fatalf("want one batch sent twice with one batch_id: %+v", b)
	}
	if gap := b[1].At.Sub(b[0].At); gap < time.Second {
		t.Fatalf("retried after %s, before Retry-After: 1", gap)
	}
	if st := c.Stats(); st.Retried != 1 || st.Sent != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTooLargeSplitsTheBatch(t *testing.T) {
	ingest := newFakeIngest(t)
	ingest.setAnswer(func(_ int, b ingestBatch) (int, http.Header) {
		if len(b.Events) > 2 {
			return 413, nil
		}
		return 202, nil
	})
	c := newTestClient(t, ingest.URL, Config{})
	record(t, c, 8)
	flush(t, c, 5*time.Second)
	if got := len(ingest.accepted(t)); got != 8 {
		t.Fatalf("%d events accepted after splitting", got)
	}
	if st := c.Stats(); st.DroppedTotal() != 0 || st.Sent != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefusedBatchesAreCountedDrops(t *testing.T) {
	ingest := newFakeIngest(t)
	ingest.setAnswer(func(int, ingestBatch) (int, http.Header) { return 401, nil })
	c := newTestClient(t, ingest.URL, Config{})
	record(t, c, 3)
	flush(t, c, 5*time.Second)
	if st := c.Stats(); st.Dropped["unauthorized"] != 3 || st.Retried != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	ingest := newFakeIngest(t)
	block := make(chan struct{})
	ingest.setAnswer(func(int, ingestBatch) (int, http.Header) { <-block; return 202, nil })
	c := newTestClient(t, ingest.URL, Config{MaxQueueEvents: 5, MaxBatchEvents: 1})
	start := time.Now()
	record(t, c, 50)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Record blocked for %s", d)
	}
	st := c.Stats()
	close(block)
	if st.Dropped["queue_full"] < 45 || st.Queued > 5 {
		t.Fatalf("stats %+v", st)
	}
}

// Issue 11: after an outage the queue drains at full speed at once: a full queue does not
// wait out a long backoff, and a success resets the backoff.
func TestRecoveryDrainsAtOnceAfterOutage(t *testing.T) {
	ingest := newFakeIngest(t)
	var down atomic.Bool
	down.Store(true)
	ingest.setAnswer(func(int, ingestBatch) (int, http.Header) {
		if down.Load() {
			return 503, http.Header{"Retry-After": {"30"}}
		}
		return 202, nil
	})
	c := newTestClient(t, ingest.URL, Config{MaxQueueEvents: 20, MaxBatchEvents: 5,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 30 * time.Second, MaxRetries: 1000,
		FlushInterval: 10 * time.Millisecond})
	record(t, c, 20) // the queue is full: the shipper is in a 30 s Retry-After backoff
	time.Sleep(300 * time.Millisecond)
	down.Store(false)
	back := time.Now()
	flush(t, c, 3*time.Second) // far less than the 30 s Retry-After
	if d := time.Since(back); d > 2*time.Second {
		t.Fatalf("drained %s after ingest came back", d)
	}
	if got := len(ingest.accepted(t)); got != 20 {
		t.Fatalf("%d of 20 events delivered", got)
	}
	// The success reset the backoff: one more transient failure is retried after about
	// BackoffBase, not after the long delay the outage had reached.
	ingest.mu.Lock()
	calls := ingest.calls
	ingest.mu.Unlock()
	ingest.setAnswer(func(n int, _ ingestBatch) (int, http.Header) {
		if n == calls {
			return 503, nil
		}
		return 202, nil
	})
	before := time.Now()
	record(t, c, 1)
	flush(t, c, 3*time.Second)
	if d := time.Since(before); d > 500*time.Millisecond {
		t.Fatalf("retry after a success waited %s: the backoff was not reset", d)
	}
}

func TestCloseDrainsWithinDeadline(t *testing.T) {
	ingest := newFakeIngest(t)
	c := newTestClient(t, ingest.URL, Config{FlushInterval: time.Hour})
	record(t, c, 4)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(ingest.accepted(t)); got != 4 {
		t.Fatalf("%d events delivered at Close", got)
	}
	if err := c.Record(context.Background(), Event{Provider: "openai", Model: "x"}); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Dropped["shutdown"] != 1 {
		t.Fatalf("record after Close: %+v", st)
	}

	down := newFakeIngest(t)
	down.setAnswer(func(int, ingestBatch) (int, http.Header) { return 503, nil })
	c2 := newTestClient(t, down.URL, Config{ShutdownTimeout: 300 * time.Millisecond, BackoffBase: time.Second})
	record(t, c2, 3)
	start := time.Now()
	err := c2.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %s with a 300ms deadline", d)
	}
	if err == nil || !strings.Contains(err.Error(), "3 event(s) not delivered") {
		t.Fatalf("Close error %v", err)
	}
	if st := c2.Stats(); st.Dropped["shutdown"] != 3 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoAPIKeyDropsAndCounts(t *testing.T) {
	t.Setenv("COSTOBS_API_KEY", "")
	ingest := newFakeIngest(t)
	c, err := NewClient(Config{IngestURL: ingest.URL})
	if err != nil {
		t.Fatal(err)
	}
	record(t, c, 2)
	flush(t, c, 5*time.Second)
	if st := c.Stats(); st.Dropped["no_api_key"] != 2 {
		t.Fatalf("stats %+v", st)
	}
	_ = c.Close()
}

func TestParseRetryAfter(t *testing.T) {
	if d := parseRetryAfter("2"); d != 2*time.Second {
		t.Fatal(d)
	}
	if d := parseRetryAfter(time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)); d < 8*time.Second || d > 10*time.Second {
		t.Fatal(d)
	}
	if d := parseRetryAfter("soon"); d != 0 {
		t.Fatal(d)
	}
}

func TestFlushReturnsWhenClosedMeanwhile(t *testing.T) {
	down := newFakeIngest(t)
	down.setAnswer(func(int, ingestBatch) (int, http.Header) { return 503, nil })
	c := newTestClient(t, down.URL, Config{ShutdownTimeout: 200 * time.Millisecond, BackoffBase: time.Second})
	record(t, c, 1)
	errc := make(chan error, 1)
	go func() { errc <- c.Flush(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	_ = c.Close()
	select {
	case <-errc: // nil: the event was given up on at Close (counted), as Flush documents
		if st := c.Stats(); st.Dropped["shutdown"] != 1 {
			t.Fatalf("stats %+v", st)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Flush still waiting after Close")
	}
}
