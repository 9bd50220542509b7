package costobs

import "strings"

// Gemini REST usageMetadata (camelCase on the wire) → normalised usage (the Python SDK's
// _usage/gemini.py): the prompt includes cached tokens, candidates exclude thoughts, and
// audio has its own rate.

type modalityCount struct {
	Modality   string `json:"modality"`
	TokenCount count  `json:"tokenCount"`
}

type geminiUsage struct {
	PromptTokenCount        count           `json:"promptTokenCount"`
	CachedContentTokenCount count           `json:"cachedContentTokenCount"`
	CandidatesTokenCount    count           `json:"candidatesTokenCount"`
	ThoughtsTokenCount      count           `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount count           `json:"toolUsePromptTokenCount"`
	PromptTokensDetails     []modalityCount `json:"promptTokensDetails"`
	CacheTokensDetails      []modalityCount `json:"cacheTokensDetails"`
	CandidatesTokensDetails []modalityCount `json:"candidatesTokensDetails"`
}

func modality(details []modalityCount, name string) int64 {
	var total int64
	for _, d := range details {
		if strings.EqualFold(d.Modality, name) {
			total += int64(d.TokenCount)
		}
	}
	return total
}

func generateUsage(m *geminiUsage) Usage {
	if m == nil {
		return Usage{}
	}
	prompt, cached := int64(m.PromptTokenCount), int64(m.CachedContentTokenCount)
	audioIn := max(0, modality(m.PromptTokensDetails, "AUDIO")-modality(m.CacheTokensDetails, "AUDIO"))
	audioOut := modality(m.CandidatesTokensDetails, "AUDIO")
	thoughts := int64(m.ThoughtsTokenCount)
	return Usage{
		InputTokens:       max(0, prompt-cached-audioIn) + int64(m.ToolUsePromptTokenCount),
		CachedInputTokens: cached,
		AudioInputTokens:  audioIn,
		OutputTokens:      max(0, int64(m.CandidatesTokenCount)-audioOut) + thoughts,
		ReasoningTokens:   thoughts,
		AudioOutputTokens: audioOut,
	}.clean()
}

// geminiModel is the model id from a REST path segment or a modelVersion.
func geminiModel(model string) string {
	for _, prefix := range []string{"models/", "publishers/google/models/"} {
		model = strings.TrimPrefix(model, prefix)
	}
	if i := strings.LastIndex(model, "/models/"); i >= 0 {
		model = model[i+len("/models/"):]
	}
	return model
}

// Bedrock Converse usage → normalised usage (the Python SDK's _usage/bedrock.py):
// inputTokens is uncached input only; cache reads and writes are reported beside it.

type bedrockUsage struct {
	InputTokens           count `json:"inputTokens"`
	OutputTokens          count `json:"outputTokens"`
	CacheReadInputTokens  count `json:"cacheReadInputTokens"`
	CacheWriteInputTokens count `json:"cacheWriteInputTokens"`
	CacheDetails          []struct {
		TTL         string `json:"ttl"`
		InputTokens count  `json:"inputTokens"`
	} `json:"cacheDetails"`
}

func converseUsage(u *bedrockUsage) Usage {
	if u == nil {
		return Usage{}
	}
	var w5m, w1h int64
	for _, d := range u.CacheDetails {
		if d.TTL == "1h" {
			w1h += int64(d.InputTokens)
		} else {
			w5m += int64(d.InputTokens)
		}
	}
	w5m += max(0, int64(u.CacheWriteInputTokens)-w5m-w1h)
	return Usage{
		InputTokens:        int64(u.InputTokens),
		CachedInputTokens:  int64(u.CacheReadInputTokens),
		CacheWrite5mTokens: w5m,
		CacheWrite1hTokens: w1h,
		OutputTokens:       int64(u.OutputTokens),
	}.clean()
}

var bedrockGeoPrefixes = []string{"us-gov", "us", "eu", "apac", "au", "ca", "jp", "global"}

// bedrockModel resolves a model id, inference-profile id or ARN to (model, geo):
// "us.anthropic.claude-…" → ("anthropic.claude-…", "us"); an application-profile ARN is
// opaque and resolved through Config.ModelAliases.
func bedrockModel(id string, aliases map[string]string) (string, string) {
	if alias, ok := aliases[id]; ok {
		id = alias
	}
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		resource := parts[len(parts)-1]
		kind, rest, _ := strings.Cut(resource, "/")
		if (kind == "foundation-model" || kind == "inference-profile") && rest != "" {
			id = rest
		} else {
			return id, ""
		}
	}
	head, rest, ok := strings.Cut(id, ".")
	if ok && strings.Contains(rest, ".") {
		for _, geo := range bedrockGeoPrefixes {
			if head == geo {
				return rest, head
			}
		}
	}
	return id, ""
}
