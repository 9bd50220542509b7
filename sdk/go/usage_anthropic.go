package costobs

import "encoding/json"

// Anthropic Messages usage → normalised usage (the Python SDK's _usage/anthropic.py).

type anthropicUsage struct {
	InputTokens              count `json:"input_tokens"`
	OutputTokens             count `json:"output_tokens"`
	CacheCreationInputTokens count `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     count `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		W5m count `json:"ephemeral_5m_input_tokens"`
		W1h count `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	ServerToolUse *struct {
		WebSearchRequests     count `json:"web_search_requests"`
		WebFetchRequests      count `json:"web_fetch_requests"`
		CodeExecutionRequests count `json:"code_execution_requests"`
	} `json:"server_tool_use"`
	OutputTokensDetails *struct {
		ThinkingTokens count `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
	ServiceTier  string `json:"service_tier"`
	InferenceGeo string `json:"inference_geo"`
}

// mergeLatest keeps the latest non-null value of each usage field: a streamed
// message_delta's counts are cumulative and must never be summed.
func mergeLatest(state map[string]json.RawMessage, usage json.RawMessage) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(usage, &fields) != nil {
		return
	}
	for k, v := range fields {
		if string(v) != "null" {
			state[k] = v
		}
	}
}

func messagesUsage(u *anthropicUsage) Usage {
	if u == nil {
		return Usage{}
	}
	creation := int64(u.CacheCreationInputTokens)
	var w5m, w1h int64
	if d := u.CacheCreation; d != nil {
		w5m, w1h = int64(d.W5m), int64(d.W1h)
	}
	if u.CacheCreation == nil || w1h+w5m < creation {
		w5m = max(w5m, creation-w1h)
	}
	out := Usage{
		InputTokens:        int64(u.InputTokens),
		CachedInputTokens:  int64(u.CacheReadInputTokens),
		CacheWrite5mTokens: w5m,
		CacheWrite1hTokens: w1h,
		OutputTokens:       int64(u.OutputTokens),
	}
	if d := u.OutputTokensDetails; d != nil {
		out.ReasoningTokens = int64(d.ThinkingTokens)
	}
	if s := u.ServerToolUse; s != nil {
		out.WebSearchRequests = int64(s.WebSearchRequests)
		out.ToolRequests = int64(s.WebFetchRequests + s.CodeExecutionRequests)
	}
	return out.clean()
}
