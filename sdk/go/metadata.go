package costobs

import (
	"context"
	"regexp"
)

// Metadata is attribution for observed calls: the nine first-class fields (event columns)
// and free-form tags. It never holds prompt or response content.
type Metadata struct {
	CustomerID    string
	UserID        string
	TraceID       string
	Feature       string
	Team          string
	Service       string
	Environment   string
	PromptKey     string
	PromptVersion string
	// Tags: up to 32 pairs; keys match ^[A-Za-z_][A-Za-z0-9_.-]{0,63}$ (others are dropped),
	// values are cut at 256 characters.
	Tags map[string]string
}

const (
	maxTags = 32
	maxText = 256
)

var tagKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$`)

type metadataKey struct{}

// WithMetadata returns ctx carrying m layered over any Metadata already in ctx: the inner
// scope wins field by field and tag by tag; both win over the Config defaults.
func WithMetadata(ctx context.Context, m Metadata) context.Context {
	if outer, ok := ctx.Value(metadataKey{}).(*Metadata); ok {
		m = outer.over(m)
	} else {
		m = Metadata{}.over(m)
	}
	return context.WithValue(ctx, metadataKey{}, &m)
}

func fromContext(ctx context.Context) *Metadata {
	if ctx == nil {
		return nil
	}
	m, _ := ctx.Value(metadataKey{}).(*Metadata)
	return m
}

func pick(low, high string) string {
	if high != "" {
		return cut(high, maxText)
	}
	return low
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// over is m with top laid over it (top wins); the result owns a fresh Tags map.
func (m Metadata) over(top Metadata) Metadata {
	out := Metadata{
		CustomerID:    pick(m.CustomerID, top.CustomerID),
		UserID:        pick(m.UserID, top.UserID),
		TraceID:       pick(m.TraceID, top.TraceID),
		Feature:       pick(m.Feature, top.Feature),
		Team:          pick(m.Team, top.Team),
		Service:       pick(m.Service, top.Service),
		Environment:   pick(m.Environment, top.Environment),
		PromptKey:     pick(m.PromptKey, top.PromptKey),
		PromptVersion: pick(m.PromptVersion, top.PromptVersion),
	}
	if len(m.Tags) == 0 && len(top.Tags) == 0 {
		return out
	}
	out.Tags = make(map[string]string, len(m.Tags)+len(top.Tags))
	for k, v := range m.Tags {
		out.Tags[k] = v
	}
	for k, v := range top.Tags {
		if !tagKeyRE.MatchString(k) {
			continue
		}
		if _, seen := out.Tags[k]; !seen && len(out.Tags) >= maxTags {
			continue
		}
		out.Tags[k] = cut(v, maxText)
	}
	return out
}

func (m *Metadata) empty() bool {
	return m.CustomerID == "" && m.UserID == "" && m.TraceID == "" && m.Feature == "" &&
		m.Team == "" && m.Service == "" && m.Environment == "" && m.PromptKey == "" &&
		m.PromptVersion == "" && len(m.Tags) == 0
}
