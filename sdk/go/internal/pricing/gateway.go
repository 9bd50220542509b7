package pricing

import "strings"

// Gateways and the canonical model: the Python engine's PriceTable.quote_call and
// canonical_model (pricing/README.md, "Gateways and the canonical model"), rule for rule.

// GatewayProvider is the table's provider for a call through a gateway or any unknown
// OpenAI-style host (gateway_provider in sdk/providers.json): priced as the model it names.
const GatewayProvider = "openai_compatible"

// vendorPrefixed is the provider whose model ids are "<vendor>.<model>": its canonical model
// is the vendor's own when the vendor's API has an entry of exactly that name.
const vendorPrefixed = "bedrock"

// canonicalModel is an entry's model across clouds: its model; for a Bedrock entry the
// vendor's own model when an entry of exactly that name exists ("anthropic.claude-sonnet-4-5"
// is "claude-sonnet-4-5"). Cached per entry.
func (t *Table) canonicalModel(e *entry) string {
	t.mu.Lock()
	found, ok := t.canonical[e.id]
	t.mu.Unlock()
	if ok {
		return found
	}
	found = e.model
	if e.provider == vendorPrefixed {
		if _, name, dotted := strings.Cut(found, "."); dotted {
			if direct := t.cachedMatch(GatewayProvider, name).entry; direct != nil && direct.model == name {
				found = name
			}
		}
	}
	t.mu.Lock()
	if t.canonical == nil {
		t.canonical = map[string]string{}
	}
	t.canonical[e.id] = found
	t.mu.Unlock()
	return found
}

// QuoteCall prices one observed call and says under which provider to record it. A call
// through a gateway (gateway: the event names a gateway_host) or with the provider
// openai_compatible is priced as the model it names, as a direct call to the provider of the
// entry matched (that provider's regions and tiers, the Bedrock geo prefix as region key), so
// gateway and direct cost the same to the digit; Quote.Provider is then that provider. Any
// other call is Quote(req) unchanged. An unknown model stays unpriced under req.Provider.
func (t *Table) QuoteCall(req Request, gateway bool) (Quote, error) {
	if !gateway && t.providerName(req.Provider) != GatewayProvider {
		return t.Quote(req)
	}
	m := t.cachedMatch(GatewayProvider, req.Model)
	if m.entry == nil {
		return t.Quote(req)
	}
	if m.geo != "" {
		req.Region = m.geo
	}
	direct := req
	direct.Provider, direct.Model = m.entry.provider, m.entry.model
	q, err := t.Quote(direct)
	if err == nil && q.Entry == "" { // an entry id its own provider does not match back: price it here
		via := req
		via.Provider = GatewayProvider
		q, err = t.Quote(via)
		q.Provider = m.entry.provider
	}
	return q, err
}
