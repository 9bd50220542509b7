package costobs

import "encoding/json"

// OpenAI and OpenAI-compatible usage shapes → normalised usage (the Python SDK's
// _usage/openai.py, quirk for quirk). Pure: bytes in, usage out.

type openaiChatUsage struct {
	PromptTokens        count `json:"prompt_tokens"`
	CompletionTokens    count `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens      count      `json:"cached_tokens"`
		CacheWriteTokens  count      `json:"cache_write_tokens"`
		AudioTokens       count      `json:"audio_tokens"`
		ImageTokens       count      `json:"image_tokens"`
		WebSearchRequests count      `json:"web_search_requests"`
		CacheCreationTTLs *ttlCounts `json:"cache_creation_token_details"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens count `json:"reasoning_tokens"`
		AudioTokens     count `json:"audio_tokens"`
	} `json:"completion_tokens_details"`
	CacheCreationInputTokens count           `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     count           `json:"cache_read_input_tokens"`
	CacheCreation            *ttlCounts      `json:"cache_creation"`
	PromptCacheHitTokens     *count          `json:"prompt_cache_hit_tokens"`
	PromptCacheMissTokens    *count          `json:"prompt_cache_miss_tokens"`
	CostInUSDTicks           json.RawMessage `json:"cost_in_usd_ticks"`
	Cost                     json.RawMessage `json:"cost"`
	ServerToolUse            *struct {
		WebSearchRequests count `json:"web_search_requests"`
	} `json:"server_tool_use"`
}

type ttlCounts struct {
	W5m  count `json:"ephemeral_5m_input_tokens"`
	W30m count `json:"ephemeral_30m_input_tokens"`
	W1h  count `json:"ephemeral_1h_input_tokens"`
	W12h count `json:"ephemeral_12h_input_tokens"`
}

const xaiTicksPerUSD = 10_000_000_000

// chatUsage: Chat Completions usage → (usage, provider-reported USD cost or "").
func chatUsage(u *openaiChatUsage, provider string) (Usage, string) {
	if u == nil {
		return Usage{}, ""
	}
	prompt, completion := int64(u.PromptTokens), int64(u.CompletionTokens)
	var cached, cacheWrite, audioIn, imageIn, webSearch, reasoning, audioOut int64
	var ttl *ttlCounts
	if d := u.PromptTokensDetails; d != nil {
		cached, cacheWrite = int64(d.CachedTokens), int64(d.CacheWriteTokens)
		audioIn, imageIn, webSearch = int64(d.AudioTokens), int64(d.ImageTokens), int64(d.WebSearchRequests)
		ttl = d.CacheCreationTTLs
	}
	if cacheWrite == 0 {
		cacheWrite = int64(u.CacheCreationInputTokens)
	}
	if d := u.CompletionTokensDetails; d != nil {
		reasoning, audioOut = int64(d.ReasoningTokens), int64(d.AudioTokens)
	}
	if cached == 0 {
		cached = int64(u.CacheReadInputTokens)
	}
	cost := ""
	if provider == "deepseek" && u.PromptCacheHitTokens != nil {
		cached = int64(*u.PromptCacheHitTokens)
		if u.PromptCacheMissTokens != nil {
			prompt = cached + int64(*u.PromptCacheMissTokens)
		} else {
			prompt = cached + max(0, prompt-cached)
		}
	}
	output := max(0, completion-audioOut)
	switch provider {
	case "xai": // xAI reports reasoning outside completion_tokens (it is in total_tokens)
		output = completion + reasoning - audioOut
		cost = usdString(u.CostInUSDTicks, xaiTicksPerUSD)
	case "openrouter":
		cost = usdString(u.Cost, 1)
	}
	if ttl == nil {
		ttl = u.CacheCreation
	}
	var w ttlCounts
	if ttl != nil {
		w = *ttl
	}
	rest := max(0, cacheWrite-int64(w.W5m+w.W30m+w.W1h+w.W12h))
	if provider == "openai" || provider == "azure" {
		w.W30m += count(rest)
	} else {
		w.W5m += count(rest)
	}
	uncached := prompt - cached - audioIn - imageIn
	if uncached >= cacheWrite {
		uncached -= cacheWrite
	} // else: the prompt cannot contain the writes (older gateways): they were never inside it
	if webSearch == 0 && u.ServerToolUse != nil {
		webSearch = int64(u.ServerToolUse.WebSearchRequests)
	}
	return Usage{
		InputTokens:         max(0, uncached),
		CachedInputTokens:   cached,
		CacheWrite5mTokens:  int64(w.W5m),
		CacheWrite30mTokens: int64(w.W30m),
		CacheWrite1hTokens:  int64(w.W1h),
		CacheWrite12hTokens: int64(w.W12h),
		WebSearchRequests:   webSearch,
		OutputTokens:        output,
		ReasoningTokens:     reasoning,
		AudioInputTokens:    audioIn,
		AudioOutputTokens:   audioOut,
		ImageInputTokens:    imageIn,
	}.clean(), cost
}

type openaiResponsesUsage struct {
	InputTokens        count `json:"input_tokens"`
	InputTokensDetails *struct {
		CachedTokens            count `json:"cached_tokens"`
		CacheWriteTokens        count `json:"cache_write_tokens"`
		CacheWriteTokensDetails *struct {
			TTL30m count `json:"ttl_30m_tokens"`
			TTL12h count `json:"ttl_12h_tokens"`
		} `json:"cache_write_tokens_details"`
	} `json:"input_tokens_details"`
	OutputTokens        count `json:"output_tokens"`
	OutputTokensDetails *struct {
		ReasoningTokens count `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

type openaiToolUsage struct {
	WebSearch *struct {
		NumRequests count `json:"num_requests"`
	} `json:"web_search"`
}

func responsesUsage(u *openaiResponsesUsage, tools *openaiToolUsage) Usage {
	if u == nil {
		return Usage{}
	}
	var cached, write, w12, w30, reasoning, web int64
	if d := u.InputTokensDetails; d != nil {
		cached, write = int64(d.CachedTokens), int64(d.CacheWriteTokens)
		if t := d.CacheWriteTokensDetails; t != nil {
			w12, w30 = int64(t.TTL12h), int64(t.TTL30m)
		}
	}
	w30 += max(0, write-w12-w30)
	if d := u.OutputTokensDetails; d != nil {
		reasoning = int64(d.ReasoningTokens)
	}
	if tools != nil && tools.WebSearch != nil {
		web = int64(tools.WebSearch.NumRequests)
	}
	return Usage{
		InputTokens:         max(0, int64(u.InputTokens)-cached-w30-w12),
		CachedInputTokens:   cached,
		CacheWrite30mTokens: w30,
		CacheWrite12hTokens: w12,
		OutputTokens:        int64(u.OutputTokens),
		ReasoningTokens:     reasoning,
		WebSearchRequests:   web,
	}.clean()
}

type openaiEmbeddingUsage struct {
	PromptTokens count `json:"prompt_tokens"`
	InputTokens  count `json:"input_tokens"`
}

func embeddingUsage(u *openaiEmbeddingUsage) Usage {
	if u == nil {
		return Usage{}
	}
	n := int64(u.PromptTokens)
	if n == 0 {
		n = int64(u.InputTokens)
	}
	return Usage{InputTokens: n}.clean()
}
