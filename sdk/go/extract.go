package costobs

import (
	"bytes"
	"encoding/json"
)

// Usage extraction from the bytes kept of a response. Runs in the shipper goroutine.

type jsonRaw = json.RawMessage

func decodeFirst(b []byte, v any) error { return json.NewDecoder(bytes.NewReader(b)).Decode(v) }

type chatPayload struct {
	ID          string           `json:"id"`
	Model       string           `json:"model"`
	ServiceTier string           `json:"service_tier"`
	Usage       *openaiChatUsage `json:"usage"`
	XGroq       *struct {
		Usage *openaiChatUsage `json:"usage"`
	} `json:"x_groq"`
}

type responsesPayload struct {
	ID          string                `json:"id"`
	Model       string                `json:"model"`
	Status      string                `json:"status"`
	ServiceTier string                `json:"service_tier"`
	Usage       *openaiResponsesUsage `json:"usage"`
	ToolUsage   *openaiToolUsage      `json:"tool_usage"`
	Error       *struct {
		Code string `json:"code"`
	} `json:"error"`
}

type anthropicMessage struct {
	ID    string  `json:"id"`
	Model string  `json:"model"`
	Usage jsonRaw `json:"usage"`
}

type geminiPayload struct {
	ResponseID    string       `json:"responseId"`
	UsageMetadata *geminiUsage `json:"usageMetadata"`
}

func (c *call) setModel(model string) {
	if model != "" && !c.keepModel {
		c.model = model
	}
}

// identify takes what the response says about itself: model, tier used, request id.
func (c *call) identify(model, tier, id string) {
	c.setModel(model)
	if tier != "" {
		c.serviceTier = tier
	}
	if id != "" {
		c.providerRequestID = id
	}
}

func (c *call) fillChat(data []byte) {
	var p chatPayload
	if json.Unmarshal(data, &p) != nil {
		return
	}
	c.identify(p.Model, p.ServiceTier, p.ID)
	u := p.Usage
	if u == nil && p.XGroq != nil {
		u = p.XGroq.Usage
	}
	if u != nil {
		var cost string
		c.usage, cost = chatUsage(u, c.provider)
		if cost != "" { // else keep a gateway's cost from its response header
			c.providerCost = cost
		}
	}
}

func (c *call) fillResponse(data []byte) {
	var p responsesPayload
	if json.Unmarshal(data, &p) != nil {
		return
	}
	c.identify(p.Model, p.ServiceTier, p.ID)
	if p.Usage != nil {
		c.usage = responsesUsage(p.Usage, p.ToolUsage)
	}
	if p.Status == "failed" {
		c.status, c.errorType = "error", "response.failed"
		if p.Error != nil && p.Error.Code != "" {
			c.errorType = p.Error.Code
		}
	}
}

func (c *call) fillAnthropic(model, id string, usage map[string]jsonRaw) {
	c.setModel(model)
	if id != "" {
		c.providerRequestID = id
	}
	raw, _ := json.Marshal(usage)
	var u anthropicUsage
	if json.Unmarshal(raw, &u) != nil {
		return
	}
	c.usage = messagesUsage(&u)
	if u.ServiceTier != "" {
		c.serviceTier = u.ServiceTier
	}
	if u.InferenceGeo != "" {
		c.region = u.InferenceGeo
	}
}

func (c *call) fillGemini(p *geminiPayload) {
	if p.ResponseID != "" {
		c.providerRequestID = p.ResponseID
	}
	if p.UsageMetadata != nil {
		c.usage = generateUsage(p.UsageMetadata)
	}
}

func fillFromJSON(c *call, kind apiKind, provider string, data []byte) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return
	}
	switch kind {
	case kindChat, kindCompletion:
		c.fillChat(data)
	case kindResponses:
		c.fillResponse(data)
	case kindEmbedding:
		var p struct {
			Model string                `json:"model"`
			Usage *openaiEmbeddingUsage `json:"usage"`
		}
		if json.Unmarshal(data, &p) == nil {
			c.setModel(p.Model)
			c.usage = embeddingUsage(p.Usage)
		}
	case kindAnthropic:
		var m anthropicMessage
		if json.Unmarshal(data, &m) == nil {
			state := map[string]jsonRaw{}
			mergeLatest(state, m.Usage)
			c.fillAnthropic(m.Model, m.ID, state)
		}
	case kindGemini:
		if data[0] == '[' { // streamGenerateContent without alt=sse: the last chunk is complete
			var chunks []geminiPayload
			if json.Unmarshal(data, &chunks) == nil {
				for i := len(chunks) - 1; i >= 0; i-- {
					if chunks[i].UsageMetadata != nil {
						c.fillGemini(&chunks[i])
						break
					}
				}
			}
			return
		}
		var p geminiPayload
		if json.Unmarshal(data, &p) == nil {
			c.fillGemini(&p)
		}
	case kindConverse:
		var p struct {
			Usage *bedrockUsage `json:"usage"`
		}
		if json.Unmarshal(data, &p) == nil {
			c.usage = converseUsage(p.Usage)
		}
	}
}

func fillFromStream(c *call, r route, k *sseKeep) {
	switch r.kind {
	case kindChat, kindCompletion, kindGemini:
		if k.last != nil {
			fillFromJSON(c, r.kind, c.provider, k.last)
		} else if k.first != nil {
			fillFromJSON(c, r.kind, c.provider, k.first)
		}
	case kindResponses:
		final := k.last
		if final == nil {
			final = k.first
		}
		if final != nil {
			var ev struct {
				Response jsonRaw `json:"response"`
			}
			if json.Unmarshal(final, &ev) == nil && len(ev.Response) > 0 {
				c.fillResponse(ev.Response)
			}
		}
	case kindAnthropic:
		var start struct {
			Message anthropicMessage `json:"message"`
		}
		state := map[string]jsonRaw{}
		if k.first != nil && json.Unmarshal(k.first, &start) == nil {
			mergeLatest(state, start.Message.Usage)
		}
		for _, d := range k.deltas {
			var delta struct {
				Usage jsonRaw `json:"usage"`
			}
			if json.Unmarshal(d, &delta) == nil {
				mergeLatest(state, delta.Usage)
			}
		}
		if k.first != nil || len(k.deltas) > 0 {
			c.fillAnthropic(start.Message.Model, start.Message.ID, state)
		}
	}
	if k.errEv != nil {
		var ev struct {
			Error struct {
				Type string `json:"type"`
				Code string `json:"code"`
			} `json:"error"`
			Code string `json:"code"`
		}
		c.status, c.errorType = "error", "error"
		if json.Unmarshal(k.errEv, &ev) == nil {
			for _, t := range []string{ev.Error.Type, ev.Error.Code, ev.Code} {
				if t != "" {
					c.errorType = t
					break
				}
			}
		}
	}
}
