package costobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Version of the Go SDK, stamped on every event (sdk_version).
const Version = "0.1.0"

// Event is one call recorded by hand (Client.Record): providers without an adapter, gRPC
// APIs, batch jobs. Provider and Model are required; everything else is optional.
type Event struct {
	Provider  string
	Model     string
	Operation string // chat (default), embedding, audio, image, …
	Usage     Usage
	// Status is "ok" (default), "error" (the provider refused or failed), "timeout" (no
	// complete answer in time) or "cancelled" (the caller stopped); ErrorType says which error.
	Status    string
	ErrorType string
	// Started is when the call started (default: now).
	Started          time.Time
	Latency          time.Duration
	TimeToFirstToken time.Duration
	Streaming, Batch bool
	// ServiceTier is the tier the provider used (default, flex, priority, batch, …).
	ServiceTier       string
	Region            string
	ProviderRequestID string
	// ProviderCostUSD is what the provider or a gateway reported the call cost, a decimal
	// string ("0.00042"); kept beside the SDK's own estimate (provider_cost_usd).
	ProviderCostUSD string
	// Metadata is the per-call layer, laid over WithMetadata's and the Config defaults.
	Metadata Metadata
}

// call is what the SDK learns about one observed call; extract (if set) fills the usage
// from the bytes kept of the response, in the shipper goroutine, off the caller's path.
type call struct {
	provider, model, operation string
	ctxMeta                    *Metadata
	callMeta                   *Metadata
	started                    time.Time
	latency, ttft              time.Duration
	hasTTFT                    bool
	streaming, batch           bool
	status, errorType          string
	serviceTier, region        string
	providerCost               string
	providerRequestID          string
	gateway                    string // a well-known gateway named by host or response header
	gatewayHost                string // the host of a call through a gateway or unknown host
	usage                      Usage
	keepModel                  bool // the model came from ModelAliases: the response does not override it
	extract                    func(*call)
}

// wireEvent is one event of wire v1 (sdk/wire-schema.v1.json): snake_case on the wire.
type wireEvent struct {
	SchemaVersion      int               `json:"schema_version"`
	RequestID          string            `json:"request_id"`
	Timestamp          string            `json:"timestamp"`
	Provider           string            `json:"provider"`
	Model              string            `json:"model"`
	Operation          string            `json:"operation"`
	Usage              Usage             `json:"usage"`
	Status             string            `json:"status"`
	LatencyMS          int64             `json:"latency_ms"`
	Streaming          bool              `json:"streaming"`
	Batch              bool              `json:"batch"`
	SDKLanguage        string            `json:"sdk_language"`
	SDKVersion         string            `json:"sdk_version"`
	CustomerID         string            `json:"customer_id,omitempty"`
	UserID             string            `json:"user_id,omitempty"`
	TraceID            string            `json:"trace_id,omitempty"`
	Feature            string            `json:"feature,omitempty"`
	Team               string            `json:"team,omitempty"`
	Service            string            `json:"service,omitempty"`
	Environment        string            `json:"environment,omitempty"`
	PromptKey          string            `json:"prompt_key,omitempty"`
	PromptVersion      string            `json:"prompt_version,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	TimeToFirstTokenMS *int64            `json:"time_to_first_token_ms,omitempty"`
	ErrorType          string            `json:"error_type,omitempty"`
	ServiceTier        string            `json:"service_tier,omitempty"`
	Region             string            `json:"region,omitempty"`
	ProviderCostUSD    string            `json:"provider_cost_usd,omitempty"`
	ProviderRequestID  string            `json:"provider_request_id,omitempty"`
	Gateway            string            `json:"gateway,omitempty"`
	GatewayHost        string            `json:"gateway_host,omitempty"`
	CostUSD            string            `json:"cost_usd,omitempty"`
	PricingVersion     string            `json:"pricing_version,omitempty"`
	CanonicalModel     string            `json:"canonical_model,omitempty"`
}

// identifier is s as a wire identifier (^[a-z0-9][a-z0-9_.-]{0,63}$), or "".
func identifier(s string) string {
	s = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
	if len(s) > 64 {
		s = s[:64]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return ""
		}
	}
	return s
}

func millis(d time.Duration) int64 { return min(max(0, d.Milliseconds()), 86_400_000) }

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40 // UUID version 4
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// toWire builds the event of a finished call (without its price) in the shipper goroutine.
func (c *call) toWire(defaults *Metadata) wireEvent {
	meta := *defaults
	if c.ctxMeta != nil {
		meta = meta.over(*c.ctxMeta)
	}
	if c.callMeta != nil {
		meta = meta.over(*c.callMeta)
	}
	ev := wireEvent{
		SchemaVersion: 1,
		RequestID:     newRequestID(),
		Timestamp:     c.started.UTC().Format(time.RFC3339Nano),
		Provider:      identifier(c.provider),
		Model:         cut(c.model, 256),
		Operation:     identifier(c.operation),
		Usage:         c.usage,
		Status:        c.status,
		LatencyMS:     millis(c.latency),
		Streaming:     c.streaming,
		Batch:         c.batch,
		SDKLanguage:   "go",
		SDKVersion:    Version,
		CustomerID:    meta.CustomerID, UserID: meta.UserID, TraceID: meta.TraceID,
		Feature: meta.Feature, Team: meta.Team, Service: meta.Service,
		Environment: meta.Environment, PromptKey: meta.PromptKey, PromptVersion: meta.PromptVersion,
		Tags:              meta.Tags,
		ErrorType:         cut(c.errorType, 128),
		ServiceTier:       identifier(c.serviceTier),
		Region:            cut(c.region, 64),
		ProviderCostUSD:   c.providerCost,
		ProviderRequestID: cut(c.providerRequestID, 256),
		Gateway:           identifier(c.gateway),
		GatewayHost:       cut(c.gatewayHost, 256),
	}
	if ev.Provider == "" {
		ev.Provider = "unknown"
	}
	if ev.Model == "" {
		ev.Model = "unknown"
	}
	if ev.Operation == "" {
		ev.Operation = "chat"
	}
	if ev.Status == "" {
		ev.Status = "ok"
	}
	if c.hasTTFT {
		ms := millis(c.ttft)
		ev.TimeToFirstTokenMS = &ms
	}
	return ev
}

// Record ships one manually observed call: priced locally, merged with the metadata of ctx
// and the Config defaults, sent in the background like every other event. It never blocks;
// it returns an *InputError naming the field when the event is invalid.
func (cl *Client) Record(ctx context.Context, e Event) error {
	if identifier(e.Provider) == "" {
		return &InputError{"Event.Provider", fmt.Sprintf("must be a name such as \"elevenlabs\", got %q", e.Provider)}
	}
	if strings.TrimSpace(e.Model) == "" {
		return &InputError{"Event.Model", "must not be empty"}
	}
	if e.Operation != "" && identifier(e.Operation) == "" {
		return &InputError{"Event.Operation", fmt.Sprintf("must be a name such as \"audio\", got %q", e.Operation)}
	}
	switch e.Status {
	case "", "ok", "error", "timeout", "cancelled":
	default:
		return &InputError{"Event.Status", fmt.Sprintf("must be ok, error, timeout or cancelled, got %q", e.Status)}
	}
	if err := e.Usage.validate(); err != nil {
		return err
	}
	providerCost := usdText(e.ProviderCostUSD, 1)
	if e.ProviderCostUSD != "" && providerCost == "" {
		return &InputError{"Event.ProviderCostUSD", fmt.Sprintf(`must be a non-negative decimal string such as "0.00042", got %q`, e.ProviderCostUSD)}
	}
	if e.Started.IsZero() {
		e.Started = time.Now()
	}
	c := &call{
		provider: e.Provider, model: e.Model, operation: e.Operation, usage: e.Usage,
		status: e.Status, errorType: e.ErrorType, started: e.Started, latency: e.Latency,
		streaming: e.Streaming, batch: e.Batch, serviceTier: e.ServiceTier, region: e.Region,
		providerRequestID: e.ProviderRequestID, providerCost: providerCost, ctxMeta: fromContext(ctx),
	}
	if e.TimeToFirstToken > 0 {
		c.ttft, c.hasTTFT = e.TimeToFirstToken, true
	}
	if !e.Metadata.empty() {
		m := e.Metadata
		c.callMeta = &m
	}
	cl.ship.submit(c)
	return nil
}
