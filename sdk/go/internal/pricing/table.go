package pricing

import (
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Table is a compiled, immutable price table; safe for concurrent use.
type Table struct {
	version   string
	providers map[string]*provider
	names     map[string]string // provider name or alias → provider
	indexes   map[string]*index

	mu        sync.Mutex
	rates     map[rateCacheKey]*rateSet
	matches   map[[2]string]match // (provider, model) → match; cleared when it reaches maxMatches
	canonical map[string]string   // entry id → canonical model
}

const maxMatches = 8192

func (t *Table) cachedMatch(provider, model string) match {
	key := [2]string{provider, model}
	t.mu.Lock()
	m, ok := t.matches[key]
	t.mu.Unlock()
	if ok {
		return m
	}
	m = t.match(provider, model)
	t.mu.Lock()
	if t.matches == nil || len(t.matches) >= maxMatches {
		t.matches = map[[2]string]match{}
	}
	t.matches[key] = m
	t.mu.Unlock()
	return m
}

// Version is the table's version string (stamped on events as pricing_version).
func (t *Table) Version() string { return t.version }

// Request is one event to price. Quantities hold the non-zero usage counts by wire field
// name (whole numbers, except audio_seconds).
type Request struct {
	Provider, Model string
	Quantities      map[string]*big.Rat
	ImageSize       string
	ImageQuality    string
	At              time.Time
	ServiceTier     string
	Batch           bool
	Region          string
}

// Quote is the exact price of one event.
type Quote struct {
	Atto    *big.Int // cost in 1e-18 USD
	Entry   string   // matched entry id; "" = unpriced ($0)
	Version string
	// Provider is the provider to record the event under: the request's, or for a call
	// through a gateway the provider of the entry matched (QuoteCall).
	Provider string
	// CanonicalModel names the model across clouds and spellings (canonicalModel); the
	// model as sent when unpriced.
	CanonicalModel string
}

// Cost is the quote as the wire's decimal string ("0.0027", "0").
func (q Quote) Cost() string { return FormatAtto(q.Atto) }

var (
	atto    = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	attoRat = new(big.Rat).SetInt(atto)
	one     = big.NewRat(1, 1)
)

// FormatAtto renders 1e-18 USD units as a plain decimal without trailing zeros.
func FormatAtto(v *big.Int) string {
	if v == nil || v.Sign() <= 0 {
		return "0"
	}
	whole, frac := new(big.Int).QuoRem(v, atto, new(big.Int))
	if frac.Sign() == 0 {
		return whole.String()
	}
	f := fmt.Sprintf("%018s", frac.String())
	return whole.String() + "." + strings.TrimRight(f, "0")
}

// RoundAtto is x (USD) in 1e-18 units, rounded half-even: the engine's only rounding.
func RoundAtto(x *big.Rat) *big.Int {
	scaled := new(big.Rat).Mul(x, attoRat)
	q, r := new(big.Int).QuoRem(scaled.Num(), scaled.Denom(), new(big.Int))
	twice := new(big.Int).Mul(r, big.NewInt(2))
	switch twice.CmpAbs(scaled.Denom()) {
	case 1:
		q.Add(q, big.NewInt(int64(scaled.Sign())))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(int64(scaled.Sign())))
		}
	}
	return q
}

type dim struct {
	key, field string
	rate       *big.Rat // per published unit
	perUnit    *big.Rat // rate / unit
	split      bool     // output with a distinct reasoning rate: charge output - reasoning
}

type rateSet struct {
	byField map[string]*dim
	images  map[string]*big.Rat
}

type rateCacheKey struct {
	period      *period
	tier        string
	longContext bool
	provider    string
	region      string
}

func (t *Table) findTier(name string, p *period, e *entry, requestProvider string) *tier {
	if name == "" {
		return nil
	}
	if tr := p.tiers[name]; tr != nil {
		return tr
	}
	if tr := e.tiers[name]; tr != nil {
		return tr
	}
	for _, prov := range []string{requestProvider, e.provider} {
		if p := t.providers[prov]; p != nil && p.tiers[name] != nil {
			return p.tiers[name]
		}
	}
	return nil
}

func (t *Table) regionMultiplier(e *entry, requestProvider, regionKey string) *big.Rat {
	table, ok := e.regions[requestProvider]
	if !ok {
		if p := t.providers[requestProvider]; p != nil {
			table = p.regions
		}
	}
	if len(table) == 0 || regionKey == "" {
		return one
	}
	if m, ok := table[regionKey]; ok {
		return m
	}
	if m, ok := table["*"]; ok {
		return m
	}
	return one
}

// resolve applies, in order: period rates, long-context rates, a tier's explicit rates,
// derive rules, a tier's multiplier (token rates only), the regional multiplier.
func (t *Table) resolve(e *entry, p *period, tr *tier, long bool, requestProvider, regionKey string) *rateSet {
	r := map[string]*big.Rat{}
	for k, v := range p.rates {
		r[k] = v
	}
	imgs := p.images
	if long && p.longContext != nil {
		for k, v := range p.longContext.rates {
			r[k] = v
		}
		if p.longContext.images != nil {
			imgs = p.longContext.images
		}
	}
	if tr != nil && tr.multiplier == nil {
		src := tr.rates
		if long && tr.longContext != nil {
			src = tr.longContext
		}
		for k, v := range src {
			r[k] = v
		}
		if tr.images != nil {
			imgs = tr.images
		}
	}
	derived := map[string]derive{}
	if owner := t.providers[e.provider]; owner != nil {
		for k, d := range owner.derive {
			derived[k] = d
		}
	}
	for k, d := range e.derive {
		derived[k] = d
	}
	for k, d := range derived {
		if _, set := r[k]; !set {
			if src, ok := r[d.source]; ok {
				r[k] = new(big.Rat).Mul(src, d.multiplier)
			}
		}
	}
	tokenMult := one
	if tr != nil && tr.multiplier != nil {
		tokenMult = tr.multiplier
	}
	regionMult := t.regionMultiplier(e, requestProvider, regionKey)
	rs := &rateSet{byField: map[string]*dim{}}
	_, hasReasoning := r["reasoning"]
	for _, rk := range rateKeys {
		rate, ok := r[rk.key]
		if !ok {
			continue
		}
		if tokenRateKeys[rk.key] {
			rate = new(big.Rat).Mul(rate, tokenMult)
		}
		rate = new(big.Rat).Mul(rate, regionMult)
		rs.byField[rk.field] = &dim{
			key: rk.key, field: rk.field, rate: rate,
			perUnit: new(big.Rat).Quo(rate, big.NewRat(rk.unit, 1)),
			split:   rk.key == "output" && hasReasoning,
		}
	}
	if imgs != nil {
		rs.images = map[string]*big.Rat{}
		for k, v := range imgs {
			rs.images[k] = new(big.Rat).Mul(v, regionMult)
		}
	}
	return rs
}

func imagePriceKey(prices map[string]*big.Rat, size, quality string) string {
	if size != "" && quality != "" {
		if _, ok := prices[size+"/"+quality]; ok {
			return size + "/" + quality
		}
	}
	if _, ok := prices[size]; ok && size != "" {
		return size
	}
	if _, ok := prices[quality]; ok && quality != "" {
		return quality
	}
	return "*"
}

// Quote prices one event. An unknown provider or model is $0 with Entry "".
func (t *Table) Quote(req Request) (Quote, error) {
	q := Quote{Atto: new(big.Int), Version: t.version, Provider: req.Provider, CanonicalModel: req.Model}
	if rs, ok := req.Quantities["reasoning_tokens"]; ok {
		if out := req.Quantities["output_tokens"]; out == nil || rs.Cmp(out) > 0 {
			return q, fmt.Errorf("pricing: reasoning_tokens is part of output_tokens and cannot exceed it")
		}
	}
	m := t.cachedMatch(req.Provider, req.Model)
	e := m.entry
	if e == nil {
		return q, nil
	}
	q.Entry = e.id
	q.CanonicalModel = t.canonicalModel(e)
	p := e.periods[0]
	for _, candidate := range e.periods[1:] {
		if !candidate.start.After(req.At) {
			p = candidate
		}
	}
	tierName := strings.ToLower(req.ServiceTier)
	if req.Batch {
		tierName = "batch"
	}
	if standardTiers[tierName] {
		tierName = ""
	}
	long := false
	if lc := p.longContext; lc != nil {
		prompt := new(big.Rat)
		for name, qty := range req.Quantities {
			if promptFields[name] {
				prompt.Add(prompt, qty)
			}
		}
		long = prompt.Cmp(big.NewRat(lc.above, 1)) > 0
	}
	regionKey := m.geo
	if regionKey == "" {
		regionKey = strings.ToLower(req.Region)
	}
	if regionKey == "" {
		if prov := t.providers[m.provider]; prov != nil {
			regionKey = prov.defaultRegion
		}
	}
	key := rateCacheKey{p, tierName, long, m.provider, regionKey}
	t.mu.Lock()
	rs := t.rates[key]
	t.mu.Unlock()
	if rs == nil {
		rs = t.resolve(e, p, t.findTier(tierName, p, e, m.provider), long, m.provider, regionKey)
		t.mu.Lock()
		if t.rates == nil {
			t.rates = map[rateCacheKey]*rateSet{}
		}
		t.rates[key] = rs
		t.mu.Unlock()
	}
	for field, qty := range req.Quantities {
		d := rs.byField[field]
		if d == nil || qty.Sign() == 0 {
			continue
		}
		if d.split {
			if reasoning, ok := req.Quantities["reasoning_tokens"]; ok {
				qty = new(big.Rat).Sub(qty, reasoning)
				if qty.Sign() == 0 {
					continue
				}
			}
		}
		q.Atto.Add(q.Atto, RoundAtto(new(big.Rat).Mul(qty, d.perUnit)))
	}
	if images, ok := req.Quantities["images"]; ok && rs.images != nil {
		price := rs.images[imagePriceKey(rs.images, strings.ToLower(strings.TrimSpace(req.ImageSize)),
			strings.ToLower(strings.TrimSpace(req.ImageQuality)))]
		q.Atto.Add(q.Atto, RoundAtto(new(big.Rat).Mul(images, price)))
	}
	return q, nil
}
