package costobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// transport is the observing RoundTripper. The provider's request and response are never
// altered, with one exception: a streamed chat request to a provider documented to accept
// stream_options.include_usage gets it when absent, and the usage-only chunk this adds is
// removed before the caller's reader sees it. Bedrock bodies are never read or changed, so
// SigV4 signatures stay valid.
type transport struct {
	base   http.RoundTripper
	client *Client
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r, ok := t.client.detect.route(req, t.client.cfg.ModelAliases)
	if !ok {
		return t.base.RoundTrip(req)
	}
	c := &call{
		provider: r.provider, model: r.model, operation: operations[r.kind],
		ctxMeta: fromContext(req.Context()), started: time.Now(), region: r.region,
	}
	c.keepModel = r.model != "" && r.kind != kindGemini && r.kind != kindConverse
	if c.model == "" && r.deployment != "" {
		c.model = r.deployment
	}
	out, hide := req, false
	if r.includeUsage && (r.kind == kindChat || r.kind == kindCompletion) && req.Body != nil && req.Body != http.NoBody {
		out, hide = t.client.injectIncludeUsage(req, c)
		if out != req && req.Body != nil {
			_ = req.Body.Close() // RoundTrip owns the caller's body even when it sends a copy
		}
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		c.latency = time.Since(c.started)
		c.status, c.errorType = "error", "transport_error"
		if errors.Is(err, context.Canceled) || errors.Is(req.Context().Err(), context.Canceled) {
			c.status, c.errorType = "cancelled", "context_canceled"
		} else if errors.Is(err, context.DeadlineExceeded) {
			c.errorType = "timeout"
		}
		t.client.ship.submit(c)
		return resp, err
	}
	if resp.StatusCode >= 400 {
		// Provider errors pass through unchanged; the event says which status it was.
		c.latency = time.Since(c.started)
		c.status, c.errorType = "error", "http_"+strconv.Itoa(resp.StatusCode)
		t.client.ship.submit(c)
		return resp, nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		c.latency = time.Since(c.started)
		t.client.ship.submit(c)
		return resp, nil
	}
	o := observed{rc: resp.Body, client: t.client, c: c, r: r, length: resp.ContentLength}
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

// injectIncludeUsage returns the request to send: with stream_options.include_usage added
// when the caller asked for a stream and set no stream_options (true: the usage-only chunk
// is the SDK's to hide). The request body is replayable through GetBody either way.
func (cl *Client) injectIncludeUsage(req *http.Request, c *call) (*http.Request, bool) {
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
			return withBody(req, body), false
		}
		return req, false
	}
	var head struct {
		Model         string          `json:"model"`
		Stream        bool            `json:"stream"`
		StreamOptions json.RawMessage `json:"stream_options"`
	}
	changed := false
	if bytes.Contains(body, []byte(`"stream"`)) && json.Unmarshal(body, &head) == nil {
		if c.model == "" {
			c.model = head.Model
		}
		if head.Stream && (len(head.StreamOptions) == 0 || string(head.StreamOptions) == "null") {
			if i := bytes.IndexByte(body, '{'); i >= 0 && len(bytes.TrimSpace(body[:i])) == 0 {
				injected := make([]byte, 0, len(body)+40)
				injected = append(injected, body[:i+1]...)
				injected = append(injected, `"stream_options":{"include_usage":true}`...)
				if rest := bytes.TrimSpace(body[i+1:]); len(rest) > 0 && rest[0] != '}' {
					injected = append(injected, ',')
				}
				body = append(injected, body[i+1:]...)
				changed = true
			}
		}
	}
	if !changed && req.GetBody != nil {
		return req, false
	}
	return withBody(req, body), changed
}

func withBody(req *http.Request, body []byte) *http.Request {
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return out
}
