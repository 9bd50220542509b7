package costobs

import (
	"bytes"
	"io"
	"sync"
)

// sseBody tees a Server-Sent Events stream: the caller reads the provider's bytes as they
// arrive (no added buffering) while the SDK scans the same bytes line by line and keeps a
// copy of only the few events that carry the model and usage. With hide set (the SDK added
// stream_options.include_usage), complete lines are handed on as they arrive, except the
// usage-only chunk and its blank terminator line, which the caller never sees.
type sseBody struct {
	observed
	mu      sync.Mutex // Close may run while a Read is blocked in another goroutine
	keep    sseKeep
	partial []byte // the line being assembled by the scanner

	hide      bool
	dropBlank bool
	out       []byte // hide mode: complete lines ready for the caller
	outPos    int
	buf       []byte
	err       error
}

func newSSEBody(o observed, hide bool) *sseBody {
	return &sseBody{observed: o, keep: sseKeep{kind: o.r.kind}, hide: hide}
}

func (s *sseBody) Read(p []byte) (int, error) {
	if s.hide {
		return s.readHidden(p)
	}
	n, err := s.rc.Read(p)
	s.mu.Lock()
	if !s.done {
		s.saw(n)
		s.scan(p[:n], nil)
		if err != nil {
			s.finish(err, s.keep.extractor(s.r))
		}
	}
	s.mu.Unlock()
	return n, err
}

func (s *sseBody) readHidden(p []byte) (int, error) {
	for {
		if s.outPos < len(s.out) {
			n := copy(p, s.out[s.outPos:])
			s.outPos += n
			if s.outPos == len(s.out) {
				s.out, s.outPos = s.out[:0], 0
			}
			return n, nil
		}
		if s.err != nil {
			return 0, s.err
		}
		if s.buf == nil {
			s.buf = make([]byte, 16<<10)
		}
		n, err := s.rc.Read(s.buf)
		s.mu.Lock()
		if !s.done {
			s.saw(n)
			s.scan(s.buf[:n], &s.out)
		}
		if err != nil {
			if len(s.partial) > 0 { // a last line without its newline still belongs to the caller
				s.out = append(s.out, s.partial...)
				s.partial = s.partial[:0]
			}
			s.err = err
			s.finish(err, s.keep.extractor(s.r))
		}
		s.mu.Unlock()
	}
}

// scan feeds bytes to the line scanner; with out set (hide mode) it also appends each
// complete line the caller should see.
func (s *sseBody) scan(b []byte, out *[]byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.partial = append(s.partial, b...)
			return
		}
		full := b[:i+1]
		if len(s.partial) > 0 {
			s.partial = append(s.partial, full...)
			full = s.partial
		}
		line := bytes.TrimRight(full, "\r\n")
		hidden := false
		if out != nil {
			switch {
			case s.dropBlank && len(line) == 0:
				hidden, s.dropBlank = true, false
			case isUsageOnlyChunk(line):
				hidden, s.dropBlank = true, true
			default:
				s.dropBlank = false
			}
		}
		s.keep.line(line)
		if out != nil && !hidden {
			*out = append(*out, full...)
		}
		s.partial = s.partial[:0]
		b = b[i+1:]
	}
}

func (s *sseBody) Close() error {
	err := s.rc.Close()
	s.mu.Lock()
	if !s.done {
		// A provider SDK closes the body once it read the stream's last event, often before
		// the read that would return EOF: that stream is complete, not cancelled.
		var early error
		if !s.keep.ended {
			early = errClosedEarly
		}
		s.finish(early, s.keep.extractor(s.r))
	}
	s.mu.Unlock()
	return err
}

var _ io.ReadCloser = (*sseBody)(nil)

// isUsageOnlyChunk: the chunk include_usage adds, `data: {…"choices":[],…"usage":{…}}`.
func isUsageOnlyChunk(line []byte) bool {
	payload, ok := dataPayload(line)
	return ok && hasValue(payload, "choices", '[', ']') && hasValue(payload, "usage", '{', 0)
}

// hasValue: payload has "key" whose value starts with open (and, when close is set, is the
// empty container open+close), ignoring whitespace.
func hasValue(payload []byte, key string, open, close byte) bool {
	k := []byte(`"` + key + `"`)
	for off := 0; ; {
		i := bytes.Index(payload[off:], k)
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(payload[off+i+len(k):], " \t")
		off += i + len(k)
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t")
		if len(rest) == 0 || rest[0] != open {
			continue
		}
		if close == 0 {
			return true
		}
		rest = bytes.TrimLeft(rest[1:], " \t")
		return len(rest) > 0 && rest[0] == close
	}
}

func dataPayload(line []byte) ([]byte, bool) {
	if !bytes.HasPrefix(line, []byte("data:")) {
		return nil, false
	}
	return bytes.TrimLeft(line[5:], " "), true
}

// sseKeep keeps copies of the events that carry model and usage, per API.
type sseKeep struct {
	kind   apiKind
	event  string
	first  []byte   // first data event (model, id; all there is of a stream cut early)
	last   []byte   // last usage-bearing event (chat, Gemini) or the final response event
	deltas [][]byte // Anthropic message_delta events (cumulative usage)
	errEv  []byte   // an error event
	ended  bool     // the stream's own last event was seen ([DONE], message_stop, a final response)
}

const maxDeltas = 64

func (k *sseKeep) line(line []byte) {
	if len(line) == 0 {
		k.event = ""
		return
	}
	if bytes.HasPrefix(line, []byte("event:")) {
		k.event = string(bytes.TrimSpace(line[6:]))
		return
	}
	payload, ok := dataPayload(line)
	if ok && (k.event == "message_stop" || bytes.Equal(payload, []byte("[DONE]"))) {
		k.ended = true
	}
	if !ok || len(payload) == 0 || payload[0] != '{' {
		return
	}
	switch k.kind {
	case kindChat, kindCompletion:
		if k.first == nil {
			k.first = bytes.Clone(payload)
		}
		if hasValue(payload, "usage", '{', 0) {
			k.last = bytes.Clone(payload)
		}
	case kindGemini:
		if k.first == nil {
			k.first = bytes.Clone(payload)
		}
		if hasValue(payload, "usageMetadata", '{', 0) {
			k.last = bytes.Clone(payload)
		}
	case kindAnthropic:
		switch k.event {
		case "message_start":
			k.first = bytes.Clone(payload)
		case "message_delta":
			if len(k.deltas) < maxDeltas {
				k.deltas = append(k.deltas, bytes.Clone(payload))
			} else {
				k.deltas[maxDeltas-1] = bytes.Clone(payload)
			}
		case "error":
			k.errEv = bytes.Clone(payload)
		}
	case kindResponses:
		name := k.event
		if name == "" { // servers that send no event: lines name the event in "type"
			name = eventType(payload)
		}
		switch name {
		case "response.created", "response.in_progress", "response.queued":
			if k.first == nil {
				k.first = bytes.Clone(payload)
			}
		case "response.completed", "response.incomplete", "response.failed":
			k.last = bytes.Clone(payload)
			k.ended = true
		case "error":
			k.errEv = bytes.Clone(payload)
		}
	}
}

func (k *sseKeep) extractor(r route) func(*call) {
	kept := *k
	return func(c *call) { fillFromStream(c, r, &kept) }
}

// eventType is the "type" of a JSON event payload when it is the first field, as OpenAI-style
// servers write it; "" otherwise.
func eventType(payload []byte) string {
	rest, ok := bytes.CutPrefix(bytes.TrimLeft(payload[1:], " "), []byte(`"type"`))
	if !ok {
		return ""
	}
	rest = bytes.TrimLeft(rest, " :")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return ""
	}
	return string(rest[1 : 1+end])
}
