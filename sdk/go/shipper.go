package costobs

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Shipping: bounded queue → one goroutine → batches → gzip POST → retries → counted drops.
//
// Delivery guarantee: at least once from the SDK's side. A batch keeps its batch_id on every
// retry and each event keeps its request_id, so the ingest stores it exactly once. Memory is
// bounded twice: MaxQueueEvents events accepted and not yet sent (submit never blocks: what
// does not fit is dropped and counted) and MaxBufferBytes of serialised events. A success
// resets the backoff, and while the queue is full a long backoff is cut short to a probe
// (BackoffBase), so the queue drains at full speed as soon as the ingest is back.

var retryStatuses = map[int]bool{408: true, 425: true, 429: true, 500: true, 502: true, 503: true, 504: true}

type shipper struct {
	cfg      *Config
	defaults Metadata
	stats    *counters
	queue    chan *call
	queued   atomic.Int64 // accepted and not yet sent or dropped
	mu       sync.RWMutex // closed + the send into queue, so nothing slips in after Close
	closed   bool
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	deadline time.Time // of the drain; written before stop is closed

	// owned by the goroutine
	pending      [][]byte
	pendingBytes int
	firstAt      time.Time
	waiters      []chan struct{}
	stopping     bool
	failures     int // consecutive failed sends, across batches; a success resets it
	timer        *time.Timer
}

func newShipper(cfg *Config, stats *counters) *shipper {
	s := &shipper{
		cfg:   cfg,
		stats: stats,
		defaults: Metadata{}.over(Metadata{Team: cfg.Team, Service: cfg.Service,
			Environment: cfg.Environment, Tags: cfg.Tags}),
		queue:    make(chan *call, cfg.MaxQueueEvents),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		timer:    time.NewTimer(time.Hour),
	}
	go s.run()
	return s
}

// submit hands one finished call to the goroutine; it never blocks.
func (s *shipper) submit(c *call) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.stats.drop("shutdown", 1)
		return
	}
	if s.queued.Add(1) > int64(s.cfg.MaxQueueEvents) {
		s.queued.Add(-1)
		s.stats.drop("queue_full", 1)
		return
	}
	select {
	case s.queue <- c:
	default: // cannot happen while queued bounds the channel; never block regardless
		s.queued.Add(-1)
		s.stats.drop("queue_full", 1)
	}
}

func (s *shipper) finished(n int) { s.queued.Add(-int64(n)) }

func (s *shipper) flush(ctx context.Context) error {
	if s.queued.Load() == 0 {
		return nil
	}
	w := make(chan struct{})
	select {
	case s.flushReq <- w:
	case <-s.done:
		return errors.New("costobs: client closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w:
		return nil
	case <-s.done: // closed meanwhile: Close counted what it could not deliver
		select {
		case <-w:
			return nil
		default:
			return errors.New("costobs: client closed before everything was sent")
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops intake, drains until the deadline and counts what is left as dropped.
func (s *shipper) close(timeout time.Duration) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.deadline = time.Now().Add(timeout)
	s.mu.Unlock()
	before := s.stats.dropped1("shutdown")
	close(s.stop)
	<-s.done // the goroutine returns by the deadline (a POST in flight is bounded by it too)
	s.stats.drop("shutdown", s.queued.Swap(0))
	if left := s.stats.dropped1("shutdown") - before; left > 0 {
		return fmt.Errorf("costobs: %d event(s) not delivered before the %s shutdown deadline", left, timeout)
	}
	return nil
}

func (s *shipper) pastDeadline() bool { return s.stopping && !time.Now().Before(s.deadline) }

func (s *shipper) run() {
	defer close(s.done)
	for {
		s.drainQueue()
		s.notifyFlushed()
		if s.stopping && (s.queued.Load() == 0 || s.pastDeadline()) {
			return
		}
		if s.ready() {
			s.sendNext()
			continue
		}
		wait := time.Hour
		if len(s.pending) > 0 {
			wait = time.Until(s.firstAt.Add(s.cfg.FlushInterval))
		}
		if s.stopping {
			wait = min(wait, time.Until(s.deadline))
		}
		s.select1(wait)
	}
}

// drainQueue takes what is already queued, up to a batch, without waiting.
func (s *shipper) drainQueue() {
	for len(s.pending) < s.cfg.MaxBatchEvents {
		select {
		case c := <-s.queue:
			s.take(c)
		default:
			return
		}
	}
}

// select1 waits up to d for one thing to happen: an event, a flush request, Close.
func (s *shipper) select1(d time.Duration) {
	s.timer.Reset(max(d, 0))
	defer s.timer.Stop()
	stop := s.stop
	if s.stopping {
		stop = nil
	}
	select {
	case c := <-s.queue:
		s.take(c)
	case w := <-s.flushReq:
		s.waiters = append(s.waiters, w)
	case <-stop:
		s.stopping = true
	case <-s.timer.C:
	}
}

func (s *shipper) notifyFlushed() {
	if len(s.waiters) > 0 && s.queued.Load() == 0 {
		for _, w := range s.waiters {
			close(w)
		}
		s.waiters = nil
	}
}

func (s *shipper) ready() bool {
	if len(s.pending) == 0 {
		return false
	}
	return s.stopping || len(s.waiters) > 0 || len(s.pending) >= s.cfg.MaxBatchEvents ||
		s.pendingBytes >= s.cfg.MaxBatchBytes || !time.Now().Before(s.firstAt.Add(s.cfg.FlushInterval))
}

// take extracts, prices and serialises one call (the work kept off the caller's path).
func (s *shipper) take(c *call) {
	data, err := s.serialise(c)
	if err != nil {
		s.stats.internal(s.cfg, err)
		s.stats.drop("serialise_error", 1)
		s.finished(1)
		return
	}
	if s.pendingBytes+len(data) > s.cfg.MaxBufferBytes {
		s.stats.drop("buffer_full", 1)
		s.finished(1)
		return
	}
	if len(s.pending) == 0 {
		s.firstAt = time.Now()
	}
	s.pending = append(s.pending, data)
	s.pendingBytes += len(data)
}

func (s *shipper) serialise(c *call) (data []byte, err error) {
	defer func() { // an SDK bug must not kill shipping for good
		if r := recover(); r != nil {
			err = fmt.Errorf("costobs: internal error serialising an event: %v", r)
		}
	}()
	if c.extract != nil {
		c.extract(c)
	}
	ev := c.toWire(&s.defaults)
	if err := price(&ev); err != nil {
		s.stats.internal(s.cfg, err) // ships unpriced: the writer prices every event on arrival
	}
	return json.Marshal(&ev)
}

func (s *shipper) sendNext() {
	n, size := 0, 0
	for n < len(s.pending) && n < s.cfg.MaxBatchEvents {
		next := len(s.pending[n]) + 1
		if n > 0 && size+next > s.cfg.MaxBatchBytes {
			break
		}
		size += next
		n++
	}
	items := s.pending[:n:n]
	s.pending = append([][]byte(nil), s.pending[n:]...)
	s.pendingBytes -= size - n
	if len(s.pending) > 0 {
		s.firstAt = time.Now()
	}
	s.sendBatch(items)
}

func (s *shipper) sendBatch(items [][]byte) {
	if s.cfg.APIKey == "" {
		s.stats.drop("no_api_key", int64(len(items)))
		s.finished(len(items))
		return
	}
	body := batchBody(newRequestID(), items, !s.cfg.DisableGzip)
	for attempt := 0; ; attempt++ {
		status, retryAfter, answer := s.post(body)
		switch {
		case status >= 200 && status < 300:
			s.failures = 0
			s.accepted(answer, len(items))
			s.finished(len(items))
			return
		case status == http.StatusRequestEntityTooLarge && len(items) > 1:
			half := len(items) / 2
			s.sendBatch(items[:half])
			s.sendBatch(items[half:])
			return
		case status != 0 && !retryStatuses[status]:
			reason := map[int]string{400: "bad_request", 401: "unauthorized", 403: "unauthorized", 413: "too_large"}[status]
			if reason == "" {
				reason = "http_" + strconv.Itoa(status)
			}
			s.stats.drop(reason, int64(len(items)))
			s.finished(len(items))
			return
		}
		if attempt >= s.cfg.MaxRetries {
			s.stats.drop("retries_exhausted", int64(len(items)))
			s.finished(len(items))
			return
		}
		delay := backoffDelay(s.failures, s.cfg.BackoffBase, s.cfg.BackoffMax, retryAfter)
		s.failures++
		s.stats.add(&s.stats.retried, 1)
		if !s.sleep(delay) {
			s.stats.drop("shutdown", int64(len(items)))
			s.finished(len(items))
			return
		}
	}
}

// sleep waits out a backoff while still taking events and flush requests. A full queue cuts
// the wait short to a probe after BackoffBase: when the ingest is back, the queue drains at
// once instead of dropping for the rest of a long backoff. False: out of shutdown time.
func (s *shipper) sleep(delay time.Duration) bool {
	start := time.Now()
	end := start.Add(delay)
	for {
		if s.pastDeadline() {
			return false
		}
		limit := end
		if s.queued.Load() >= int64(s.cfg.MaxQueueEvents) {
			if probe := start.Add(s.cfg.BackoffBase); probe.Before(limit) {
				limit = probe
			}
		}
		now := time.Now()
		if !now.Before(limit) {
			return true
		}
		if s.stopping && s.deadline.Before(limit) {
			limit = s.deadline
		}
		s.select1(limit.Sub(now))
	}
}

// backoffDelay: jittered exponential backoff over consecutive failures; Retry-After is a
// floor (capped at max).
func backoffDelay(failures int, base, most time.Duration, retryAfter time.Duration) time.Duration {
	ceiling := most
	if failures < 30 {
		ceiling = min(most, base<<failures)
	}
	delay := time.Duration(float64(ceiling) * (0.5 + rand.Float64()/2))
	if retryAfter > 0 {
		delay = max(delay, time.Duration(float64(min(retryAfter, most))*(1+rand.Float64()/10)))
	}
	return delay
}

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

func batchBody(batchID string, items [][]byte, compress bool) []byte {
	var raw bytes.Buffer
	raw.WriteString(`{"batch_id":"` + batchID + `","events":[`)
	for i, item := range items {
		if i > 0 {
			raw.WriteByte(',')
		}
		raw.Write(item)
	}
	raw.WriteString("]}")
	if !compress {
		return raw.Bytes()
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, 5)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()
	return out.Bytes()
}

// post sends one batch body; status 0 means the ingest could not be reached.
func (s *shipper) post(body []byte) (int, time.Duration, []byte) {
	timeout := s.cfg.RequestTimeout
	if s.stopping {
		timeout = max(50*time.Millisecond, min(timeout, time.Until(s.deadline)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.IngestURL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "costobs-go/"+Version)
	if !s.cfg.DisableGzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, 0, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After")), answer
}

func (s *shipper) accepted(answer []byte, n int) {
	var result struct {
		Accepted   *int64            `json:"accepted"`
		Duplicates int64             `json:"duplicates"`
		Rejected   []json.RawMessage `json:"rejected"`
	}
	_ = json.Unmarshal(answer, &result)
	accepted := int64(n)
	if result.Accepted != nil {
		accepted = *result.Accepted
	}
	s.stats.add(&s.stats.sent, accepted+result.Duplicates)
	s.stats.add(&s.stats.duplicates, result.Duplicates)
	s.stats.add(&s.stats.batches, 1)
	if len(result.Rejected) > 0 {
		s.stats.drop("rejected", int64(len(result.Rejected)))
		s.stats.internal(s.cfg, fmt.Errorf("costobs: ingest rejected %d event(s): %s", len(result.Rejected), result.Rejected[0]))
	}
}
