package costobs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Provider detection from the request's host and path. The host → provider knowledge is
// sdk/providers.json, shared by every SDK (embedded here as providers.json).

type apiKind uint8

const (
	kindNone apiKind = iota
	kindChat
	kindCompletion
	kindResponses
	kindEmbedding
	kindAnthropic
	kindGemini
	kindConverse
)

var operations = [...]string{"", "chat", "completion", "responses", "embedding", "chat", "chat", "chat"}

type route struct {
	kind       apiKind
	provider   string
	host       string // "host" or "host:port" (a non-default port): how settings name a host
	gateway    string // a well-known gateway named by the host (portkey, helicone, …)
	model      string // from the path (Gemini, Bedrock) or an Azure deployment alias
	deployment string // Azure deployment name (no alias configured)
	region     string // Bedrock geo prefix of an inference profile
	stream     bool   // Bedrock converse-stream / Gemini streamGenerateContent
}

type detector struct {
	compat       map[string]string
	suffixes     [][2]string
	native       map[string]string
	bedrock      *regexp.Regexp
	includeUsage map[string]bool
	extra        map[string]string
	gateways
}

func newDetector(data []byte, extra map[string]string) (*detector, error) {
	var file struct {
		Compat       map[string]string `json:"openai_compatible_hosts"`
		Suffixes     map[string]string `json:"host_suffixes"`
		IncludeUsage []string          `json:"include_usage_providers"`
		Native       map[string]string `json:"native_hosts"`
		Bedrock      string            `json:"bedrock_host_pattern"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("costobs: embedded providers.json: %w", err)
	}
	re, err := regexp.Compile(file.Bedrock)
	if err != nil {
		return nil, fmt.Errorf("costobs: embedded providers.json bedrock_host_pattern: %w", err)
	}
	d := &detector{compat: file.Compat, native: file.Native, bedrock: re,
		includeUsage: map[string]bool{}, extra: map[string]string{}}
	if d.gateways, err = readGateways(data); err != nil {
		return nil, fmt.Errorf("costobs: embedded providers.json: %w", err)
	}
	for suffix, provider := range file.Suffixes {
		d.suffixes = append(d.suffixes, [2]string{suffix, provider})
	}
	for _, p := range file.IncludeUsage {
		d.includeUsage[p] = true
	}
	for host, provider := range extra {
		d.extra[strings.ToLower(host)] = identifier(provider)
	}
	return d, nil
}

// family is the API a host speaks: "anthropic", "gemini", "bedrock" or "" (OpenAI-compatible).
func family(provider string) string {
	switch provider {
	case "anthropic", "gemini", "bedrock":
		return provider
	}
	return ""
}

// provider finds the provider of a host; an unknown host is the gateway provider (an
// OpenAI-style API: only its OpenAI paths are observed).
func (d *detector) provider(hostport string) (provider, fam string) {
	host := strings.ToLower(hostport)
	if len(d.extra) > 0 {
		if p, found := d.extra[host]; found {
			return p, family(p)
		}
	}
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		name = host[:i]
		if p, found := d.extra[name]; found {
			return p, family(p)
		}
	}
	if p, found := d.native[name]; found {
		return p, p
	}
	if p, found := d.compat[name]; found {
		return p, ""
	}
	for _, s := range d.suffixes {
		if strings.HasSuffix(name, s[0]) {
			return s[1], ""
		}
	}
	if d.bedrock.MatchString(name) {
		return "bedrock", "bedrock"
	}
	for known, p := range d.compat {
		if strings.HasSuffix(name, "."+known) {
			return p, ""
		}
	}
	return d.gatewayProvider, ""
}

func (d *detector) route(req *http.Request, aliases map[string]string) (route, bool) {
	if req.Method != http.MethodPost || req.URL == nil {
		return route{}, false
	}
	host := req.URL.Host
	if host == "" {
		host = req.Host
	}
	provider, fam := d.provider(host)
	path := req.URL.Path
	r := route{provider: provider}
	switch {
	case fam == "anthropic":
		if strings.HasSuffix(path, "/v1/messages") {
			r.kind = kindAnthropic
		}
	case fam == "gemini" && !strings.Contains(path, "/openai/"):
		i := strings.LastIndex(path, "/models/")
		if i < 0 {
			break
		}
		model, method, _ := strings.Cut(path[i+len("/models/"):], ":")
		switch method {
		case "generateContent":
			r.kind = kindGemini
		case "streamGenerateContent":
			r.kind, r.stream = kindGemini, true
		}
		r.model = geminiModel(model)
	case fam == "bedrock":
		parts := strings.Split(req.URL.EscapedPath(), "/")
		if len(parts) != 4 || parts[1] != "model" {
			break
		}
		id, err := url.PathUnescape(parts[2])
		if err != nil {
			break
		}
		switch parts[3] {
		case "converse":
			r.kind = kindConverse
		case "converse-stream":
			r.kind, r.stream = kindConverse, true
		}
		r.model, r.region = bedrockModel(id, aliases)
	default:
		switch {
		case strings.HasSuffix(path, "/chat/completions"):
			r.kind = kindChat
		case strings.HasSuffix(path, "/completions"):
			r.kind = kindCompletion
		case strings.HasSuffix(path, "/responses"):
			r.kind = kindResponses
		case strings.HasSuffix(path, "/embeddings"):
			r.kind = kindEmbedding
		}
		if i := strings.Index(path, "/deployments/"); i >= 0 { // Azure: the model is a deployment
			dep, _, _ := strings.Cut(path[i+len("/deployments/"):], "/")
			if alias, ok := aliases[dep]; ok {
				r.model = alias
			} else {
				r.deployment = dep
			}
		}
	}
	if r.kind == kindNone {
		return r, false
	}
	var name string
	name, r.host = hostKey(req.URL.Scheme, host)
	if provider == d.gatewayProvider {
		r.gateway = d.gatewayForHost(name)
	}
	return r, true
}
