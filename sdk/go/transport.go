package costobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// transport is the observing RoundTripper. The provider's request and response are never
// altered, with one exception: a streamed chat request gets stream_options.include_usage when
// absent, where the provider is documented to accept it or the host is a gateway (unless
// Config.IncludeUsageHosts says no, or the host refused it before), and the usage-only chunk
// this adds is removed before the caller's reader sees it. A gateway that refuses the
// parameter gets the caller's request once more exactly as written, and the host is
// remembered. Bedrock bodies are never read or changed, so SigV4 signatures stay valid.
type transport struct {
	base   http.RoundTripper
	client *Client
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	cl := t.client
	r, ok := cl.detect.route(req, cl.cfg.ModelAliases)
	if !ok {
		return t.base.RoundTrip(req)
	}
	c := &call{
		provider: r.provider, model: r.model, operation: operations[r.kind],
		ctxMeta: fromContext(req.Context()), started: time.Now(), region: r.region,
	}
	if r.provider == cl.detect.gatewayProvider {
		c.gatewayHost, c.gateway = r.host, r.gateway
	}
	c.keepModel = r.model != "" && r.kind != kindGemini && r.kind != kindConverse
	if c.model == "" && r.deployment != "" {
		c.model = r.deployment
	}
	out, hide, original := req, false, []byte(nil)
	if (r.kind == kindChat || r.kind == kindCompletion) && req.Body != nil && req.Body != http.NoBody &&
		cl.injectsIncludeUsage(r.provider, r.host) {
		out, original, hide = cl.injectIncludeUsage(req, c)
		if out != req && req.Body != nil {
			_ = req.Body.Close() // RoundTrip owns the caller's body even when it sends a copy
		}
	}
	resp, err := t.base.RoundTrip(out)
	if err == nil && hide && (resp.StatusCode == 400 || resp.StatusCode == 422) {
		if c.gatewayHost != "" {
			cl.detect.seeHeaders(c, resp.Header)
		}
		if cl.refusesIncludeUsage(resp) {
			cl.refused.Store(r.host, true)
			hide = false
			out = withBody(req, original)
			resp, err = t.base.RoundTrip(out)
		}
	}
	if err != nil {
		c.latency = time.Since(c.started)
		c.status, c.errorType = failure(req.Context(), err, "transport_error")
		c.modelFromRequest(out, r.kind)
		cl.ship.submit(c)
		return resp, err
	}
	if c.gatewayHost != "" {
		cl.detect.seeHeaders(c, resp.Header)
	}
	if resp.StatusCode >= 400 {
		// Provider errors pass through unchanged; the event says which status it was.
		c.latency = time.Since(c.started)
		c.status, c.errorType = "error", "http_"+strconv.Itoa(resp.StatusCode)
		c.modelFromRequest(out, r.kind)
		cl.ship.submit(c)
		return resp, nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		c.latency = time.Since(c.started)
		cl.ship.submit(c)
		return resp, nil
	}
	o := observed{rc: resp.Body, client: cl, c: c, r: r, ctx: req.Context(), length: resp.ContentLength}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		c.streaming = true
		resp.Body = newSSEBody(o, hide)
	case strings.HasPrefix(ct, "application/vnd.amazon.eventstream"):
		c.streaming = true
		resp.Body = &eventStreamBody{observed: o}
	default:
		c.streaming = r.stream // Gemini streamGenerateContent without alt=sse: a JSON array
		resp.Body = newJSONBody(o)
	}
	return resp, nil
}

// failure names how a call ended that got no complete answer: "cancelled" (the caller's
// context was cancelled), "timeout" (a deadline or a network timeout: http.Client.Timeout,
// a context deadline, a provider SDK's request timeout) or "error" with otherType.
func failure(ctx context.Context, err error, otherType string) (status, errorType string) {
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return "cancelled", "context_canceled"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout()):
		return "timeout", "timeout"
	}
	return "error", otherType
}

// modelFromRequest names the model of a call that failed before a response named it: the
// "model" of the JSON request body, read again through GetBody (as the Python SDK records the
// model argument). Only on this failure path: a successful call's response names its model.
func (c *call) modelFromRequest(req *http.Request, kind apiKind) {
	if c.model != "" || req.GetBody == nil || kind == kindGemini || kind == kindConverse {
		return
	}
	rc, err := req.GetBody()
	if err != nil {
		return
	}
	defer func() { _ = rc.Close() }()
	var head struct {
		Model string `json:"model"`
	}
	if json.NewDecoder(io.LimitReader(rc, maxKeep)).Decode(&head) == nil {
		c.model = head.Model
	}
}

// injectsIncludeUsage: whether a streamed chat call to host gets stream_options.include_usage
// (the Python SDK's rule): the host's own setting first (never again once the host refused
// it), then the providers documented to accept it, then gateways and unknown hosts unless
// the host refused it.
func (cl *Client) injectsIncludeUsage(provider, host string) bool {
	_, refused := cl.refused.Load(host)
	if chosen, ok := cl.cfg.IncludeUsageHosts[host]; ok {
		return chosen && !refused
	}
	if cl.detect.includeUsage[provider] {
		return true
	}
	return provider == cl.detect.gatewayProvider && cl.detect.includeUsageUnknown && !refused
}

// maxRefusal is how much of a 400/422 answer is read to see whether it names stream_options.
const maxRefusal = 64 << 10

// refusesIncludeUsage reads the start of a 400/422 answer to an injected request: true (the
// body closed) when it refuses stream_options; otherwise the body is handed on whole.
func (cl *Client) refusesIncludeUsage(resp *http.Response) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxRefusal))
	if err == nil && rejectsStreamOptions(resp.StatusCode, head) {
		_ = resp.Body.Close()
		return true
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return false
}

// injectIncludeUsage returns the request to send and the caller's body: with
// stream_options.include_usage added when the caller asked for a stream and set no
// stream_options (injected true: the usage-only chunk is the SDK's to hide). The request body
// is replayable through GetBody either way.
func (cl *Client) injectIncludeUsage(req *http.Request, c *call) (out *http.Request, original []byte, injected bool) {
	var body []byte
	var err error
	if req.GetBody != nil {
		var rc io.ReadCloser
		if rc, err = req.GetBody(); err == nil {
			body, err = io.ReadAll(rc)
			_ = rc.Close()
		}
	} else {
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	if err != nil {
		cl.stats.internal(&cl.cfg, err)
		if req.GetBody == nil { // the body is gone: send what was read
			return withBody(req, body), body, false
		}
		return req, nil, false
	}
	var head struct {
		Model         string          `json:"model"`
		Stream        bool            `json:"stream"`
		StreamOptions json.RawMessage `json:"stream_options"`
	}
	sent := body
	if bytes.Contains(body, []byte(`"stream"`)) && json.Unmarshal(body, &head) == nil {
		if c.model == "" {
			c.model = head.Model
		}
		// An explicit "stream_options":null stays as written: a second key would be a
		// duplicate, and parsers disagree about which one wins.
		if head.Stream && len(head.StreamOptions) == 0 {
			if i := bytes.IndexByte(body, '{'); i >= 0 && len(bytes.TrimSpace(body[:i])) == 0 {
				added := make([]byte, 0, len(body)+40)
				added = append(added, body[:i+1]...)
				added = append(added, `"stream_options":{"include_usage":true}`...)
				if rest := bytes.TrimSpace(body[i+1:]); len(rest) > 0 && rest[0] != '}' {
					added = append(added, ',')
				}
				sent = append(added, body[i+1:]...)
				injected = true
			}
		}
	}
	if !injected && req.GetBody != nil {
		return req, body, false
	}
	return withBody(req, sent), body, injected
}

func withBody(req *http.Request, body []byte) *http.Request {
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return out
}
