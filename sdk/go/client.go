// Package costobs observes LLM provider calls made through net/http and ships one event
// per call, without prompt or response content, to a CostObs ingest.
//
//	co := costobs.New(costobs.Config{IngestURL: "http://localhost:8080", APIKey: "…", Team: "payments"})
//	defer co.Close()
//	httpClient := &http.Client{Transport: co.Transport(nil)}
//
// Any provider SDK that accepts an *http.Client (openai-go, anthropic-sdk-go, google.golang.org/genai,
// aws-sdk-go-v2) is observed through Transport: the provider is recognised from the request's
// host and path, usage is read from a copy of the response (streams are teed), the call is
// priced locally with the embedded price table and shipped in the background. Unknown hosts
// pass through untouched. Record covers providers without an adapter.
package costobs

import (
	"context"
	"net/http"
	"sync"
)

// Client observes calls and ships their events. Safe for concurrent use; create one per
// process and Close it on exit.
type Client struct {
	cfg    Config
	ship   *shipper
	stats  counters
	detect *detector
	// refused holds the hosts (route.host) that answered an injected stream_options with a
	// 400/422 naming it: it is never sent to them again by this Client.
	refused sync.Map
}

// New returns a Client for cfg. It panics with an *InputError naming the field when cfg is
// invalid (a programming error, seen on the first run); use NewClient to get the error
// instead. An invalid environment variable is reported the same way.
func New(cfg Config) *Client {
	c, err := NewClient(cfg)
	if err != nil {
		panic(err)
	}
	return c
}

// NewClient is New returning the configuration error instead of panicking.
func NewClient(cfg Config) (*Client, error) {
	resolved, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	det, err := newDetector(providersJSON, resolved.ProviderHosts)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: resolved, detect: det}
	c.ship = newShipper(&c.cfg, &c.stats)
	return c, nil
}

// Flush blocks until every event recorded so far was sent (or given up on), or ctx ends.
func (c *Client) Flush(ctx context.Context) error { return c.ship.flush(ctx) }

// Close stops taking events and drains the queue within Config.ShutdownTimeout; events still
// waiting then are counted as dropped ("shutdown") and reported in the error.
func (c *Client) Close() error { return c.ship.close(c.cfg.ShutdownTimeout) }

// Stats is a snapshot of what was sent, retried and dropped (and why).
func (c *Client) Stats() Stats { return c.stats.snapshot(max(0, c.ship.queued.Load())) }

// Transport wraps base (http.DefaultTransport when nil) with observation. Requests to hosts
// of no known provider go to base untouched.
func (c *Client) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if c.cfg.Disabled {
		return base
	}
	return &transport{base: base, client: c}
}
