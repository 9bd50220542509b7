package pricing

import (
	"regexp"
	"sort"
	"strings"
)

// Model matching, first hit wins (the Python engine's _match.py, step for step):
// provider prefix normalisation (ARN tail, strip_prefixes, "<provider>/", strip_suffixes, geo
// prefix remembered as the region key), fine-tuned "ft:<base>:…" → "ft:<base>", exact id or
// alias, longest declared prefix/suffix, one snapshot suffix stripped and retried, then the
// provider's delegate rules; nothing matched is unpriced ($0).

var snapshotSuffixes = []*regexp.Regexp{
	regexp.MustCompile(`@[^@/]*$`),
	regexp.MustCompile(`-v\d+(:\d+)?$`),
	regexp.MustCompile(`:\d+$`),
	regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`),
	regexp.MustCompile(`-\d{8}$`),
	regexp.MustCompile(`-\d{2}-\d{2}$`),
	regexp.MustCompile(`-\d{3,4}$`),
	regexp.MustCompile(`-latest$`),
	regexp.MustCompile(`-preview$`),
}

func stripSnapshot(name string) (string, bool) {
	for _, re := range snapshotSuffixes {
		loc := re.FindStringIndex(name)
		if loc != nil && loc[0] > 0 {
			return name[:loc[0]], true
		}
	}
	return "", false
}

type affix struct {
	text  string
	entry *entry
}

type index struct {
	exact              map[string]*entry
	prefixes, suffixes []affix
}

func (ix *index) add(e *entry) {
	ix.exact[strings.ToLower(e.model)] = e
	for _, a := range e.aliases {
		ix.exact[strings.ToLower(a)] = e
	}
	for _, p := range e.prefixes {
		if strings.HasPrefix(p, "*") {
			ix.suffixes = append(ix.suffixes, affix{strings.ToLower(p[1:]), e})
		} else {
			ix.prefixes = append(ix.prefixes, affix{strings.ToLower(p), e})
		}
	}
}

func (ix *index) finish() {
	// Longest first; for equal lengths the later one first (stable sort of the reversed list).
	for _, list := range [][]affix{ix.prefixes, ix.suffixes} {
		for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
			list[i], list[j] = list[j], list[i]
		}
		sort.SliceStable(list, func(a, b int) bool { return len(list[a].text) > len(list[b].text) })
	}
}

func (ix *index) find(name string) *entry {
	if e := ix.exact[name]; e != nil {
		return e
	}
	for _, p := range ix.prefixes {
		if strings.HasPrefix(name, p.text) {
			return p.entry
		}
	}
	for _, s := range ix.suffixes {
		if strings.HasSuffix(name, s.text) {
			return s.entry
		}
	}
	return nil
}

type match struct {
	entry    *entry
	provider string // the provider the request went through: its regions and tiers apply
	geo      string
}

func (t *Table) providerName(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if name, ok := t.names[p]; ok {
		return name
	}
	return p
}

func (t *Table) match(provider, model string) match {
	p := t.providerName(provider)
	return t.matchIn(p, strings.ToLower(strings.TrimSpace(model)), p, "", 0)
}

func (t *Table) matchIn(p, name, request, geo string, depth int) match {
	prov := t.providers[p]
	if strings.HasPrefix(name, "arn:") && strings.Contains(name, "/") {
		name = name[strings.LastIndex(name, "/")+1:]
	}
	if prov != nil {
		for _, prefix := range prov.stripPrefixes {
			if strings.HasPrefix(name, prefix) && len(name) > len(prefix) {
				name = name[len(prefix):]
				break
			}
		}
	}
	name = strings.TrimPrefix(name, p+"/")
	if prov != nil {
		for _, suffix := range prov.stripSuffixes {
			if strings.HasSuffix(name, suffix) && len(name) > len(suffix) {
				name = name[:len(name)-len(suffix)]
				break
			}
		}
		for _, prefix := range prov.geo {
			if strings.HasPrefix(name, prefix) {
				geo = strings.TrimRight(prefix, ".")
				name = name[len(prefix):]
				break
			}
		}
	}
	if strings.HasPrefix(name, "ft:") {
		if parts := strings.Split(name, ":"); len(parts) > 1 && parts[1] != "" {
			name = "ft:" + parts[1]
		}
	}
	if ix := t.indexes[p]; ix != nil {
		for candidate, ok := name, true; ok; candidate, ok = stripSnapshot(candidate) {
			if e := ix.find(candidate); e != nil {
				return match{e, request, geo}
			}
		}
	}
	if prov != nil && depth < 3 {
		for _, rule := range prov.delegate {
			if rule.hasPrefix && !strings.HasPrefix(name, rule.prefix) {
				continue
			}
			target := name
			if rule.hasPrefix && !rule.keepPrefix {
				target = name[len(rule.prefix):]
			}
			if rule.dotsToDashes {
				target = strings.ReplaceAll(target, ".", "-")
			}
			return t.matchIn(rule.to, target, request, geo, depth+1)
		}
	}
	return match{nil, request, geo}
}
