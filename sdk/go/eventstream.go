package costobs

import (
	"bytes"
	"encoding/binary"
	"sync"
)

// eventStreamBody tees a Bedrock ConverseStream response (the AWS event-stream binary
// framing): the caller reads the provider's bytes untouched as they arrive; the SDK parses
// frames from the same bytes and keeps the payload of the `metadata` event (usage).
//
// Frame: total length (4, big-endian) | headers length (4) | prelude CRC (4) | headers |
// payload | message CRC (4). Header: name length (1) | name | type (1) | value; strings
// (type 7) carry a 2-byte length. The SDK never validates or alters anything: it only reads.
type eventStreamBody struct {
	observed
	mu       sync.Mutex // Close may run while a Read is blocked in another goroutine
	frame    []byte     // bytes of the frame being assembled
	metadata []byte
	errType  string
}

func (e *eventStreamBody) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	e.mu.Lock()
	if !e.done {
		e.saw(n)
		e.feed(p[:n])
		if err != nil {
			e.finish(err, e.extractor())
		}
	}
	e.mu.Unlock()
	return n, err
}

func (e *eventStreamBody) Close() error {
	err := e.rc.Close()
	e.mu.Lock()
	if !e.done {
		e.finish(errClosedEarly, e.extractor())
	}
	e.mu.Unlock()
	return err
}

const maxFrame = 16 << 20

func (e *eventStreamBody) feed(b []byte) {
	e.frame = append(e.frame, b...)
	for len(e.frame) >= 12 {
		total := int(binary.BigEndian.Uint32(e.frame[0:4]))
		headers := int(binary.BigEndian.Uint32(e.frame[4:8]))
		if total < 16 || total > maxFrame || headers > total-16 {
			e.frame = nil // not event-stream framing after all: stop parsing, keep passing through
			return
		}
		if len(e.frame) < total {
			return
		}
		e.onFrame(e.frame[12:12+headers], e.frame[12+headers:total-4])
		e.frame = append(e.frame[:0], e.frame[total:]...)
	}
}

func (e *eventStreamBody) onFrame(headers, payload []byte) {
	h := parseHeaders(headers)
	switch {
	case h[":message-type"] == "exception" || h[":message-type"] == "error":
		e.errType = h[":exception-type"]
		if e.errType == "" {
			e.errType = h[":error-code"]
		}
	case h[":event-type"] == "metadata":
		e.metadata = bytes.Clone(payload)
	}
}

// parseHeaders reads the string headers of a frame (other types are skipped).
func parseHeaders(b []byte) map[string]string {
	out := map[string]string{}
	sizes := map[byte]int{0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
	for len(b) > 1 {
		nl := int(b[0])
		if len(b) < 2+nl {
			return out
		}
		name := string(b[1 : 1+nl])
		typ := b[1+nl]
		b = b[2+nl:]
		switch typ {
		case 6, 7: // bytes, string
			if len(b) < 2 {
				return out
			}
			vl := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+vl {
				return out
			}
			if typ == 7 {
				out[name] = string(b[2 : 2+vl])
			}
			b = b[2+vl:]
		default:
			size, ok := sizes[typ]
			if !ok || len(b) < size {
				return out
			}
			b = b[size:]
		}
	}
	return out
}

func (e *eventStreamBody) extractor() func(*call) {
	metadata, errType := e.metadata, e.errType
	return func(c *call) {
		if errType != "" {
			c.status, c.errorType = "error", errType
		}
		if metadata != nil {
			fillFromJSON(c, kindConverse, c.provider, metadata)
		}
	}
}
