package costobs

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config configures a Client. The zero value works: every unset field falls back to its
// environment variable (where one is named) and then to its default.
type Config struct {
	// IngestURL serves POST /v1/events. COSTOBS_INGEST_URL; default http://localhost:8080.
	IngestURL string
	// APIKey is the bearer key of the org the events belong to. COSTOBS_API_KEY.
	// Without one, events are dropped and counted (Stats().Dropped["no_api_key"]).
	APIKey string
	// Team, Service and Environment are the default metadata of every event (the lowest
	// layer; WithMetadata wins over them). Service: COSTOBS_SERVICE; Environment:
	// COSTOBS_ENVIRONMENT.
	Team, Service, Environment string
	// Tags are default tags of every event.
	Tags map[string]string
	// Disabled turns observation and shipping off: Transport passes every request through.
	// COSTOBS_ENABLED=false does the same.
	Disabled bool

	// ProviderHosts maps extra hosts ("host" or "host:port") to a provider, for gateways
	// and proxies: "anthropic", "gemini" and "bedrock" speak those providers' native APIs;
	// any other name (e.g. "openai", "litellm", "azure") is taken as OpenAI-compatible.
	ProviderHosts map[string]string
	// IncludeUsageHosts says per host ("host", or "host:port" for a non-default port) whether
	// streamed chat requests there get stream_options.include_usage (the SDK adds it, and hides
	// the usage chunk it adds). Default: yes for providers documented to accept it and for
	// gateways and unknown hosts; false for a gateway that must never see it.
	IncludeUsageHosts map[string]bool
	// ModelAliases maps Azure deployment names and Bedrock application-profile ARNs (or any
	// in-house name) to model ids, e.g. {"prod-gpt4o": "gpt-4o"}.
	ModelAliases map[string]string

	// MaxBatchEvents per POST (default 500, at most 1000).
	MaxBatchEvents int
	// MaxBatchBytes of uncompressed JSON per POST (default 1 MiB, at most 5 MiB).
	MaxBatchBytes int
	// FlushInterval an event may wait for its batch to fill (default 1s).
	FlushInterval time.Duration
	// MaxQueueEvents waiting to be sent; beyond it new events are dropped and counted
	// ("queue_full"): the caller's request is never blocked (default 10,000).
	MaxQueueEvents int
	// MaxBufferBytes of serialised events waiting to be sent (default 16 MiB).
	MaxBufferBytes int
	// MaxRetries of one batch before its events are dropped (default 8; negative: none).
	MaxRetries int
	// BackoffBase is the first retry delay (default 500ms; doubles per consecutive failure,
	// jittered); BackoffMax the longest delay and the cap on Retry-After (default 30s).
	BackoffBase, BackoffMax time.Duration
	// RequestTimeout of one POST (default 10s).
	RequestTimeout time.Duration
	// ShutdownTimeout is how long Close may take to drain (default 2s).
	ShutdownTimeout time.Duration
	// DisableGzip sends batches uncompressed.
	DisableGzip bool
	// HTTPClient ships the batches (default: a client of its own, never the observed one).
	HTTPClient *http.Client
	// OnInternalError is called with every error the SDK swallows (it never reaches the
	// provider call); tests use it to fail on SDK bugs.
	OnInternalError func(error)
}

const (
	maxBatchEventsLimit = 1000
	maxBatchBytesLimit  = 5 * 1024 * 1024
)

// Validate reports the first invalid field, named as in Config.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

func envOr(value, name string) string {
	if value != "" {
		return value
	}
	return os.Getenv(name)
}

// resolve fills defaults and environment variables and checks every value.
func (c Config) resolve() (Config, error) {
	c.IngestURL = envOr(c.IngestURL, "COSTOBS_INGEST_URL")
	if c.IngestURL == "" {
		c.IngestURL = "http://localhost:8080"
	}
	u, err := url.Parse(c.IngestURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, &InputError{"Config.IngestURL (COSTOBS_INGEST_URL)", fmt.Sprintf("must be an http(s) URL, got %q", c.IngestURL)}
	}
	c.IngestURL = strings.TrimRight(c.IngestURL, "/")
	c.APIKey = envOr(c.APIKey, "COSTOBS_API_KEY")
	c.Service = envOr(c.Service, "COSTOBS_SERVICE")
	c.Environment = envOr(c.Environment, "COSTOBS_ENVIRONMENT")
	switch strings.ToLower(strings.TrimSpace(os.Getenv("COSTOBS_ENABLED"))) {
	case "", "1", "true", "yes", "on":
	case "0", "false", "no", "off":
		c.Disabled = true
	default:
		return c, &InputError{"COSTOBS_ENABLED", fmt.Sprintf("must be a boolean (true/false), got %q", os.Getenv("COSTOBS_ENABLED"))}
	}
	ints := []struct {
		name      string
		v         *int
		def, most int
	}{
		{"MaxBatchEvents", &c.MaxBatchEvents, 500, maxBatchEventsLimit},
		{"MaxBatchBytes", &c.MaxBatchBytes, 1024 * 1024, maxBatchBytesLimit},
		{"MaxQueueEvents", &c.MaxQueueEvents, 10_000, 1 << 30},
		{"MaxBufferBytes", &c.MaxBufferBytes, 16 * 1024 * 1024, 1 << 40},
	}
	for _, f := range ints {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 1 || *f.v > f.most {
			return c, &InputError{"Config." + f.name, fmt.Sprintf("must be between 1 and %d, got %d", f.most, *f.v)}
		}
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = 8
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"FlushInterval", &c.FlushInterval, time.Second},
		{"BackoffBase", &c.BackoffBase, 500 * time.Millisecond},
		{"BackoffMax", &c.BackoffMax, 30 * time.Second},
		{"RequestTimeout", &c.RequestTimeout, 10 * time.Second},
		{"ShutdownTimeout", &c.ShutdownTimeout, 2 * time.Second},
	}
	for _, f := range durations {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 {
			return c, &InputError{"Config." + f.name, fmt.Sprintf("must be positive, got %s", *f.v)}
		}
	}
	for host, provider := range c.ProviderHosts {
		if host == "" || identifier(provider) == "" {
			return c, &InputError{"Config.ProviderHosts", fmt.Sprintf("maps %q to %q: want a host and a provider name", host, provider)}
		}
	}
	hosts := make(map[string]bool, len(c.IncludeUsageHosts))
	for host, inject := range c.IncludeUsageHosts {
		if strings.TrimSpace(host) == "" {
			return c, &InputError{"Config.IncludeUsageHosts", "has an empty host: want \"host\" or \"host:port\""}
		}
		hosts[strings.ToLower(strings.TrimSpace(host))] = inject
	}
	c.IncludeUsageHosts = hosts
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return c, nil
}
