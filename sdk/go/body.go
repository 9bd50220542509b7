package costobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"
)

// observed is what every observing response body shares: the provider's body, the call it
// belongs to, and the one-time finish that ships the event. The caller always reads the
// provider's own bytes, as they arrive; the SDK keeps only what it needs for usage.
type observed struct {
	rc     io.ReadCloser
	client *Client
	c      *call
	r      route
	ctx    context.Context // the request's: a read error after it ended is a timeout or a cancellation
	length int64           // Content-Length, -1 when unknown

	read    int64
	started bool
	done    bool
}

// saw notes n bytes read; the first byte of a stream is its time to first token.
func (o *observed) saw(n int) {
	if n > 0 && !o.started {
		o.started = true
		if o.c.streaming {
			o.c.ttft, o.c.hasTTFT = time.Since(o.c.started), true
		}
	}
	o.read += int64(n)
}

// finish ships the event once: at the end of the body, at an error, or at an early Close.
func (o *observed) finish(err error, extract func(*call)) {
	if o.done {
		return
	}
	o.done = true
	c := o.c
	c.latency = time.Since(c.started)
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.Is(err, errClosedEarly):
		c.status = "cancelled"
	default: // the usage seen so far is kept: the provider bills what it generated
		c.status, c.errorType = failure(o.ctx, err, "stream_interrupted")
	}
	c.extract = extract
	o.client.ship.submit(c)
}

var errClosedEarly = errors.New("closed before the end of the body")

// closeErr is how a Close before the end counts: complete when every announced byte was read.
func (o *observed) closeErr() error {
	if o.length >= 0 && o.read >= o.length {
		return nil
	}
	return errClosedEarly
}

// jsonBody keeps a copy of a non-streamed response; usage is parsed from it in the shipper
// goroutine. Past maxKeep bytes only a tail is kept (usage and model come last in every
// provider's JSON), so a huge embeddings answer costs bounded memory.
type jsonBody struct {
	observed
	mu        sync.Mutex // Close may run while a Read is blocked in another goroutine
	buf       []byte
	truncated bool
}

const (
	maxKeep  = 8 << 20
	tailKeep = 64 << 10
)

func newJSONBody(o observed) *jsonBody {
	b := &jsonBody{observed: o}
	if o.length > 0 && o.length <= maxKeep {
		b.buf = make([]byte, 0, o.length)
	}
	return b
}

func (b *jsonBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	if !b.done {
		b.saw(n)
		b.keep(p[:n])
		if err != nil {
			b.finish(err, b.extractor(false))
		}
	}
	b.mu.Unlock()
	return n, err
}

func (b *jsonBody) keep(p []byte) {
	if len(b.buf)+len(p) <= maxKeep && !b.truncated {
		b.buf = append(b.buf, p...)
		return
	}
	b.truncated = true
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailKeep {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-tailKeep:]...)
	}
}

func (b *jsonBody) Close() error {
	err := b.rc.Close()
	b.mu.Lock()
	if !b.done {
		early := b.closeErr()
		b.finish(early, b.extractor(early != nil))
	}
	b.mu.Unlock()
	return err
}

// extractor hands the kept bytes to the shipper goroutine. closedEarly: the caller closed the
// body before EOF; a decoder may stop at the end of the JSON value without reading to EOF,
// so a complete value there still means a complete call.
func (b *jsonBody) extractor(closedEarly bool) func(*call) {
	data, truncated, kind, provider := b.buf, b.truncated, b.r.kind, b.r.provider
	b.buf = nil
	return func(c *call) {
		if truncated {
			data = tailObject(data)
		} else if closedEarly && json.Valid(data) {
			c.status = "ok"
		}
		fillFromJSON(c, kind, provider, data)
	}
}

// tailObject rebuilds {"model":…,"usage":…,"usageMetadata":…} from the tail of a huge body.
func tailObject(tail []byte) []byte {
	out := []byte{'{'}
	for _, key := range []string{"model", "usage", "usageMetadata"} {
		i := bytes.LastIndex(tail, []byte(`"`+key+`"`))
		if i < 0 {
			continue
		}
		rest := bytes.TrimLeft(tail[i+len(key)+2:], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		var value jsonRaw
		if err := decodeFirst(rest[1:], &value); err != nil {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"`+key+`":`...)
		out = append(out, value...)
	}
	return append(out, '}')
}
