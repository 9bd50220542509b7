package costobs

import "sync"

// Stats is a snapshot of the SDK's own counters (Client.Stats).
type Stats struct {
	// Sent: events the ingest accepted (duplicates of an already stored event included).
	Sent int64
	// Duplicates: of Sent, events the ingest already had (a retry after a lost answer).
	Duplicates int64
	// Retried: batch sends that were retried (one per retry).
	Retried int64
	// Batches the ingest answered 2xx to.
	Batches int64
	// Dropped: events given up on, by reason (queue_full, buffer_full, rejected,
	// retries_exhausted, unauthorized, bad_request, no_api_key, shutdown, …).
	Dropped map[string]int64
	// Queued: events accepted and not yet sent or dropped.
	Queued int64
	// InternalErrors: errors inside the SDK itself (swallowed; the provider call is untouched).
	InternalErrors int64
}

// DroppedTotal is the sum of Dropped.
func (s Stats) DroppedTotal() int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

type counters struct {
	mu                                              sync.Mutex
	sent, duplicates, retried, batches, internalErr int64
	dropped                                         map[string]int64
}

func (c *counters) add(field *int64, n int64) {
	c.mu.Lock()
	*field += n
	c.mu.Unlock()
}

func (c *counters) drop(reason string, n int64) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	if c.dropped == nil {
		c.dropped = map[string]int64{}
	}
	c.dropped[reason] += n
	c.mu.Unlock()
}

// internal counts an error swallowed by the SDK and hands it to Config.OnInternalError.
func (c *counters) internal(cfg *Config, err error) {
	c.add(&c.internalErr, 1)
	if cfg.OnInternalError != nil {
		cfg.OnInternalError(err)
	}
}

func (c *counters) dropped1(reason string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped[reason]
}

func (c *counters) snapshot(queued int64) Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	dropped := make(map[string]int64, len(c.dropped))
	for k, v := range c.dropped {
		dropped[k] = v
	}
	return Stats{Sent: c.sent, Duplicates: c.duplicates, Retried: c.retried, Batches: c.batches,
		Dropped: dropped, Queued: queued, InternalErrors: c.internalErr}
}
