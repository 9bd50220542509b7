package pricing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The table file is validated in full by `make sync-pricing` (JSON Schema and the Python
// compiler); here each value is still checked where it is read, so a hand-edited copy fails
// with the entry and field named instead of pricing wrongly.

var decimalRE = regexp.MustCompile(`^\d{1,12}(\.\d{1,18})?$`)

type tier struct {
	name        string
	multiplier  *big.Rat // nil: explicit rates
	rates       map[string]*big.Rat
	images      map[string]*big.Rat
	longContext map[string]*big.Rat
}

type longContext struct {
	above  int64
	rates  map[string]*big.Rat
	images map[string]*big.Rat
}

type derive struct {
	source     string
	multiplier *big.Rat
}

type period struct {
	start       time.Time
	rates       map[string]*big.Rat
	images      map[string]*big.Rat
	longContext *longContext
	tiers       map[string]*tier
}

type entry struct {
	id, provider, model string
	aliases, prefixes   []string
	periods             []*period
	tiers               map[string]*tier
	regions             map[string]map[string]*big.Rat
	derive              map[string]derive
}

type delegate struct {
	prefix       string
	hasPrefix    bool
	to           string
	keepPrefix   bool
	dotsToDashes bool
}

type provider struct {
	name                                       string
	aliases, stripPrefixes, stripSuffixes, geo []string
	defaultRegion                              string
	regions                                    map[string]*big.Rat
	tiers                                      map[string]*tier
	derive                                     map[string]derive
	delegate                                   []delegate
}

type ctx struct{ entry string }

func (c ctx) fail(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c.entry != "" {
		return fmt.Errorf("pricing: entry %q, field %q: %s", c.entry, path, msg)
	}
	return fmt.Errorf("pricing: field %q: %s", path, msg)
}

func obj(c ctx, path string, v any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, c.fail(path, "must be a mapping")
	}
	return m, nil
}

func str(c ctx, path string, v any) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", c.fail(path, "must be a non-empty string, not %v", v)
	}
	return s, nil
}

func strList(c ctx, path string, v any, lower bool) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, c.fail(path, "must be a list of strings")
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, err := str(c, fmt.Sprintf("%s[%d]", path, i), item)
		if err != nil {
			return nil, err
		}
		if lower {
			s = strings.ToLower(s)
		}
		out = append(out, s)
	}
	return out, nil
}

// Decimal parses a non-negative decimal string ("2.50") exactly.
func Decimal(s string) (*big.Rat, bool) {
	if !decimalRE.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func decimal(c ctx, path string, v any) (*big.Rat, error) {
	s, ok := v.(string)
	if !ok {
		return nil, c.fail(path, `must be a decimal string such as "2.50", not %v`, v)
	}
	r, ok := Decimal(s)
	if !ok {
		return nil, c.fail(path, `must be a non-negative decimal string such as "2.50", not %q`, s)
	}
	return r, nil
}

func multiplier(c ctx, path string, v any) (*big.Rat, error) {
	r, err := decimal(c, path, v)
	if err == nil && r.Sign() == 0 {
		err = c.fail(path, "a multiplier of 0 is not allowed")
	}
	return r, err
}

func timestamp(c ctx, path string, v any) (time.Time, error) {
	if s, ok := v.(string); ok {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil // a timestamp without offset is UTC, as in the Python engine
			}
		}
	}
	return time.Time{}, c.fail(path, "must be an ISO date or timestamp, not %v", v)
}

func rates(c ctx, path string, raw map[string]any, skip map[string]bool) (map[string]*big.Rat, error) {
	out := map[string]*big.Rat{}
	for key, value := range raw {
		if skip[key] {
			continue
		}
		if _, ok := rateKeySet[key]; !ok {
			return nil, c.fail(path+"."+key, "unknown rate")
		}
		r, err := decimal(c, path+"."+key, value)
		if err != nil {
			return nil, err
		}
		out[key] = r
	}
	return out, nil
}

func images(c ctx, path string, v any) (map[string]*big.Rat, error) {
	if v == nil {
		return nil, nil
	}
	raw, err := obj(c, path, v)
	if err != nil {
		return nil, err
	}
	if _, ok := raw["*"]; !ok {
		return nil, c.fail(path, `needs a "*" price`)
	}
	out := map[string]*big.Rat{}
	for k, value := range raw {
		r, err := decimal(c, path+"."+k, value)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = r
	}
	return out, nil
}

func tiers(c ctx, path string, v any) (map[string]*tier, error) {
	raw, err := obj(c, path, v)
	if err != nil {
		return nil, err
	}
	out := map[string]*tier{}
	for name, value := range raw {
		tpath := path + "." + name
		t, err := obj(c, tpath, value)
		if err != nil {
			return nil, err
		}
		tr := &tier{name: name}
		if (t["multiplier"] == nil) == (t["rates"] == nil) {
			return nil, c.fail(tpath, "needs exactly one of 'multiplier' or 'rates'")
		}
		if t["multiplier"] != nil {
			if tr.multiplier, err = multiplier(c, tpath+".multiplier", t["multiplier"]); err != nil {
				return nil, err
			}
		} else {
			rt, err := obj(c, tpath+".rates", t["rates"])
			if err != nil {
				return nil, err
			}
			if tr.rates, err = rates(c, tpath+".rates", rt, map[string]bool{"images": true}); err != nil {
				return nil, err
			}
			if tr.images, err = images(c, tpath+".rates.images", rt["images"]); err != nil {
				return nil, err
			}
		}
		if t["long_context"] != nil {
			lt, err := obj(c, tpath+".long_context", t["long_context"])
			if err != nil {
				return nil, err
			}
			if tr.longContext, err = rates(c, tpath+".long_context", lt, nil); err != nil {
				return nil, err
			}
		}
		out[name] = tr
	}
	return out, nil
}

func derives(c ctx, path string, v any) (map[string]derive, error) {
	raw, err := obj(c, path, v)
	if err != nil {
		return nil, err
	}
	out := map[string]derive{}
	for key, value := range raw {
		dpath := path + "." + key
		if _, ok := rateKeySet[key]; !ok {
			return nil, c.fail(dpath, "unknown rate")
		}
		d, err := obj(c, dpath, value)
		if err != nil {
			return nil, err
		}
		source, err := str(c, dpath+".from", d["from"])
		if err != nil {
			return nil, err
		}
		m, err := decimal(c, dpath+".multiplier", d["multiplier"])
		if err != nil {
			return nil, err
		}
		out[key] = derive{source, m}
	}
	return out, nil
}

func regionMap(c ctx, path string, v any) (map[string]*big.Rat, error) {
	raw, err := obj(c, path, v)
	if err != nil {
		return nil, err
	}
	out := map[string]*big.Rat{}
	for k, value := range raw {
		m, err := multiplier(c, path+"."+k, value)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = m
	}
	return out, nil
}

func compileProvider(name string, v any) (*provider, error) {
	c := ctx{}
	path := "providers." + name
	raw, err := obj(c, path, v)
	if err != nil {
		return nil, err
	}
	p := &provider{name: name}
	if p.aliases, err = strList(c, path+".aliases", raw["aliases"], true); err != nil {
		return nil, err
	}
	if p.stripPrefixes, err = strList(c, path+".strip_prefixes", raw["strip_prefixes"], true); err != nil {
		return nil, err
	}
	if p.stripSuffixes, err = strList(c, path+".strip_suffixes", raw["strip_suffixes"], true); err != nil {
		return nil, err
	}
	if p.geo, err = strList(c, path+".geo_prefixes", raw["geo_prefixes"], true); err != nil {
		return nil, err
	}
	if dr, ok := raw["default_region"].(string); ok {
		p.defaultRegion = strings.ToLower(dr)
	}
	if p.regions, err = regionMap(c, path+".regions", raw["regions"]); err != nil {
		return nil, err
	}
	if p.tiers, err = tiers(c, path+".tiers", raw["tiers"]); err != nil {
		return nil, err
	}
	if p.derive, err = derives(c, path+".derive", raw["derive"]); err != nil {
		return nil, err
	}
	list, _ := raw["delegate"].([]any)
	for i, item := range list {
		dpath := fmt.Sprintf("%s.delegate[%d]", path, i)
		d, err := obj(c, dpath, item)
		if err != nil {
			return nil, err
		}
		to, err := str(c, dpath+".to", d["to"])
		if err != nil {
			return nil, err
		}
		rule := delegate{to: to}
		if prefix, ok := d["prefix"].(string); ok {
			rule.prefix, rule.hasPrefix = strings.ToLower(prefix), true
		}
		rule.keepPrefix, _ = d["keep_prefix"].(bool)
		rule.dotsToDashes, _ = d["dots_to_dashes"].(bool)
		p.delegate = append(p.delegate, rule)
	}
	return p, nil
}

var periodSkip = map[string]bool{"from": true, "images": true, "long_context": true, "tiers": true, "notes": true}

func compileEntry(v any, index int) (*entry, error) {
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("pricing: entries[%d] must be a mapping", index)
	}
	c := ctx{entry: fmt.Sprintf("entries[%d]", index)}
	id, err := str(c, "id", raw["id"])
	if err != nil {
		return nil, err
	}
	c.entry = id
	e := &entry{id: id}
	if e.provider, err = str(c, "provider", raw["provider"]); err != nil {
		return nil, err
	}
	if e.model, err = str(c, "model", raw["model"]); err != nil {
		return nil, err
	}
	if e.aliases, err = strList(c, "aliases", raw["aliases"], false); err != nil {
		return nil, err
	}
	if e.prefixes, err = strList(c, "prefixes", raw["prefixes"], false); err != nil {
		return nil, err
	}
	prices, _ := raw["prices"].([]any)
	if len(prices) == 0 {
		return nil, c.fail("prices", "must be a non-empty list of dated rate sets")
	}
	for i, item := range prices {
		ppath := fmt.Sprintf("prices[%d]", i)
		pr, err := obj(c, ppath, item)
		if err != nil {
			return nil, err
		}
		p := &period{}
		if p.start, err = timestamp(c, ppath+".from", pr["from"]); err != nil {
			return nil, err
		}
		if len(e.periods) > 0 && !p.start.After(e.periods[len(e.periods)-1].start) {
			return nil, c.fail(ppath+".from", "price periods must be in increasing date order")
		}
		if p.rates, err = rates(c, ppath, pr, periodSkip); err != nil {
			return nil, err
		}
		if p.images, err = images(c, ppath+".images", pr["images"]); err != nil {
			return nil, err
		}
		if pr["long_context"] != nil {
			lt, err := obj(c, ppath+".long_context", pr["long_context"])
			if err != nil {
				return nil, err
			}
			above, err := lt["above"].(json.Number).Int64()
			if err != nil || above <= 0 {
				return nil, c.fail(ppath+".long_context.above", "must be a positive integer token count")
			}
			lc := &longContext{above: above}
			skip := map[string]bool{"above": true, "images": true}
			if lc.rates, err = rates(c, ppath+".long_context", lt, skip); err != nil {
				return nil, err
			}
			if lc.images, err = images(c, ppath+".long_context.images", lt["images"]); err != nil {
				return nil, err
			}
			p.longContext = lc
		}
		if p.tiers, err = tiers(c, ppath+".tiers", pr["tiers"]); err != nil {
			return nil, err
		}
		e.periods = append(e.periods, p)
	}
	if e.tiers, err = tiers(c, "tiers", raw["tiers"]); err != nil {
		return nil, err
	}
	e.regions = map[string]map[string]*big.Rat{}
	regs, err := obj(c, "regions", raw["regions"])
	if err != nil {
		return nil, err
	}
	for prov, value := range regs {
		if e.regions[strings.ToLower(prov)], err = regionMap(c, "regions."+prov, value); err != nil {
			return nil, err
		}
	}
	if e.derive, err = derives(c, "derive", raw["derive"]); err != nil {
		return nil, err
	}
	return e, nil
}

// Compile reads a price table in the prices.json shape (`make sync-pricing` writes it).
func Compile(data []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("pricing: invalid JSON: %w", err)
	}
	version, ok := raw["version"].(string)
	if !ok || version == "" {
		return nil, fmt.Errorf("pricing: field %q: must be a non-empty string", "version")
	}
	t := &Table{version: version, providers: map[string]*provider{}, names: map[string]string{},
		indexes: map[string]*index{}}
	provs, err := obj(ctx{}, "providers", raw["providers"])
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(provs))
	for name := range provs {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic alias resolution (first definition wins, as in Python's dict order)
	for name, value := range provs {
		p, err := compileProvider(name, value)
		if err != nil {
			return nil, err
		}
		t.providers[name] = p
	}
	for name := range t.providers {
		t.names[name] = name
	}
	for _, name := range names {
		for _, alias := range t.providers[name].aliases {
			if _, taken := t.names[alias]; !taken {
				t.names[alias] = name
			}
		}
	}
	list, ok := raw["entries"].([]any)
	if !ok {
		return nil, fmt.Errorf("pricing: field %q: must be a list", "entries")
	}
	seen := map[string]bool{}
	for i, item := range list {
		e, err := compileEntry(item, i)
		if err != nil {
			return nil, err
		}
		if seen[e.id] {
			return nil, fmt.Errorf("pricing: entry %q: duplicate id", e.id)
		}
		seen[e.id] = true
		idx := t.indexes[e.provider]
		if idx == nil {
			idx = &index{exact: map[string]*entry{}}
			t.indexes[e.provider] = idx
		}
		idx.add(e)
	}
	for _, idx := range t.indexes {
		idx.finish()
	}
	for name, p := range t.providers {
		for j, d := range p.delegate {
			if t.providers[d.to] == nil {
				return nil, fmt.Errorf("pricing: field %q: delegates to unknown provider %q",
					fmt.Sprintf("providers.%s.delegate[%d].to", name, j), d.to)
			}
		}
	}
	return t, nil
}
