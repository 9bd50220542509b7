package costobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"

	"github.com/officialasishkumar/costobs/sdk/go/internal/pricing"
)

// Gateways (LiteLLM proxy, Portkey, Helicone, Cloudflare AI Gateway, an in-house one): the
// gateway keys of sdk/providers.json, read in file order (the first listed header wins, as in
// the Python SDK), and the pure decisions made from them.
type gateways struct {
	gatewayProvider     string      // what an unknown host is stamped as (openai_compatible)
	gatewayHosts        [][2]string // host (a subdomain counts too) → gateway name
	gatewayHeaders      [][2]string // response header present → gateway name
	costHeaders         []string    // response header carrying the gateway's own cost in USD
	includeUsageUnknown bool        // inject stream_options.include_usage for unknown hosts too
}

func readGateways(data []byte) (gateways, error) {
	var file struct {
		Provider     string          `json:"gateway_provider"`
		Hosts        json.RawMessage `json:"gateway_hosts"`
		Headers      json.RawMessage `json:"gateway_headers"`
		CostHeaders  json.RawMessage `json:"gateway_cost_headers"`
		IncludeUsage bool            `json:"include_usage_unknown_hosts"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return gateways{}, err
	}
	if file.Provider == "" {
		return gateways{}, fmt.Errorf("gateway_provider is missing")
	}
	g := gateways{gatewayProvider: file.Provider, includeUsageUnknown: file.IncludeUsage}
	var err error
	if g.gatewayHosts, err = orderedPairs(file.Hosts); err != nil {
		return g, fmt.Errorf("gateway_hosts: %w", err)
	}
	if g.gatewayHeaders, err = orderedPairs(file.Headers); err != nil {
		return g, fmt.Errorf("gateway_headers: %w", err)
	}
	costs, err := orderedPairs(file.CostHeaders)
	if err != nil {
		return g, fmt.Errorf("gateway_cost_headers: %w", err)
	}
	for _, p := range costs {
		g.costHeaders = append(g.costHeaders, p[0])
	}
	return g, nil
}

// orderedPairs reads a JSON object of strings keeping its order (a Go map would lose it).
func orderedPairs(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want an object of strings")
	}
	var out [][2]string
	for dec.More() {
		var key, value string
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ = tok.(string)
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%q: %w", key, err)
		}
		out = append(out, [2]string{key, value})
	}
	return out, nil
}

// hostKey is the request's host name (lower case, no port) and how settings name the host:
// "host", or "host:port" for a port other than the scheme's default.
func hostKey(scheme, hostport string) (name, key string) {
	hostport = strings.ToLower(hostport)
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.HasSuffix(hostport, "]") { // no port
		name = strings.Trim(hostport, "[]")
		return name, name
	}
	name, port := strings.Trim(hostport[:i], "[]"), hostport[i+1:]
	if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return name, name
	}
	if !strings.HasPrefix(hostport, "[") { // already "host:port": no new string on the hot path
		return name, hostport
	}
	return name, name + ":" + port
}

// gatewayForHost is the well-known gateway behind a host name, or "".
func (g *gateways) gatewayForHost(host string) string {
	for _, p := range g.gatewayHosts {
		if host == p[0] || strings.HasSuffix(host, "."+p[0]) {
			return p[1]
		}
	}
	return ""
}

// seeHeaders takes from a gateway's response headers the gateway they name (when the host did
// not) and its own cost, kept beside ours. A stream's headers leave before its cost is known:
// no cost is read from them.
func (g *gateways) seeHeaders(c *call, h http.Header) {
	if c.gateway == "" {
		for _, p := range g.gatewayHeaders {
			if len(h.Values(p[0])) > 0 {
				c.gateway = p[1]
				break
			}
		}
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		return
	}
	for _, name := range g.costHeaders {
		if cost := usdText(h.Get(name), 1); cost != "" {
			c.providerCost = cost
			return
		}
	}
}

// rejectsStreamOptions: a gateway's refusal of the injected stream_options (400/422 naming it).
func rejectsStreamOptions(status int, body []byte) bool {
	return (status == 400 || status == 422) &&
		(bytes.Contains(body, []byte("stream_options")) || bytes.Contains(body, []byte("include_usage")))
}

// exactDecimal is a plain decimal number with an optional exponent ("0.00042", "1.2e-05"),
// exactly; fractions and hexadecimal forms, which big.Rat would also take, are refused.
var exactDecimal = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$`)

// usdText is a non-negative USD amount given as text, divided by divisor, as the wire's
// decimal string (rounded half-even at 18 places); "" when it is not one.
func usdText(text string, divisor int64) string {
	text = strings.TrimSpace(text)
	if !exactDecimal.MatchString(text) {
		return ""
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok || r.Sign() < 0 {
		return ""
	}
	if divisor != 1 {
		r.Quo(r, big.NewRat(divisor, 1))
	}
	return pricing.FormatAtto(pricing.RoundAtto(r))
}
