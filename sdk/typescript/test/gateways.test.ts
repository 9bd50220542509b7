/**
 * OpenAI clients pointed at a gateway (LiteLLM proxy, Portkey, an in-house one): priced as the
 * model they name, streamed usage captured, a refused `stream_options` never breaks the call.
 * The same scenarios as sdk/python/tests/test_gateways.py: the real `openai` package, the gateway
 * a loopback fake on a host the SDK does not know (127.0.0.1:<port>).
 */

import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { test } from "node:test";
import OpenAI from "openai";
import type { Options } from "../src/config.js";
import { ConfigError, configure, quote, record, wrap } from "../src/index.node.js";
import { forgetRefusals } from "../src/integrations/openai.js";
import { gatewayForHost, gatewayFromHeaders, rejectsStreamOptions } from "../src/usage/openai.js";
import { internalErrors, json, servers, setup, sse } from "./helpers.js";

const USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 200 },
  completion_tokens_details: { reasoning_tokens: 50 },
};
const NORMALISED = { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300, reasoning_tokens: 50 };

function completion(model: string, usage: unknown = USAGE) {
  return {
    id: "chatcmpl-gw",
    object: "chat.completion",
    created: 1,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    usage,
  };
}

function chunks(model: string, withUsage: boolean) {
  const base = { id: "chatcmpl-gw-s", object: "chat.completion.chunk", created: 1, model };
  const out: Array<{ data: unknown }> = [
    { data: { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" } }], usage: null } },
    { data: { ...base, choices: [{ index: 0, delta: { content: "Hel" } }], usage: null } },
    { data: { ...base, choices: [{ index: 0, delta: { content: "lo" }, finish_reason: "stop" }], usage: null } },
  ];
  if (withUsage) out.push({ data: { ...base, choices: [], usage: USAGE } });
  return out;
}

type Reply = (body: Record<string, unknown>, res: ServerResponse) => void | Promise<void>;

/** The default gateway: answers as OpenAI would, usage chunk only when asked for. */
const plain: Reply = async (body, res) => {
  const model = String(body.model);
  if (!body.stream) return json(res, 200, completion(model));
  await sse(res, chunks(model, (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true), { done: true });
};

/** A gateway that refuses the parameter it does not know, as some in-house proxies do. */
const refusing: Reply = async (body, res) => {
  if ("stream_options" in body) {
    return json(res, 400, { error: { message: "Unrecognized request argument supplied: stream_options", type: "invalid_request_error" } });
  }
  await sse(res, chunks(String(body.model), false), { done: true });
};

let reply: Reply = plain;

const srv = servers(
  {
    "POST /v1/chat/completions": async (_req, raw, res) => {
      await reply(JSON.parse(raw.toString()), res);
    },
  },
  {
    reset: () => {
      reply = plain;
      forgetRefusals();
    },
  },
);
const events = srv.events;

function host(): string {
  return `127.0.0.1:${srv.provider.port}`;
}

/** A wrapped client on the gateway, with the SDK configured by `extra` at wrap time. */
function client(extra: Options = {}): OpenAI {
  setup(srv.ingest.url, extra);
  return wrap(new OpenAI({ apiKey: "sk-test", baseURL: `${srv.provider.url}/v1`, maxRetries: 0 }));
}

async function drain(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const seen: unknown[] = [];
  for await (const item of stream) seen.push(item);
  return seen;
}

test("a gateway call costs the same as the direct call, to the digit", async () => {
  await client().chat.completions.create({ model: "gpt-4o-mini", messages: [] });
  await client({ providerHosts: { [host()]: "openai" } }).chat.completions.create({ model: "gpt-4o-mini", messages: [] });
  const evs = await events(2);
  const through = evs.find((e) => "gateway_host" in e);
  const direct = evs.find((e) => !("gateway_host" in e));
  assert.ok(through && direct);
  assert.equal(through.provider, "openai");
  assert.equal(direct.provider, "openai");
  assert.equal(through.gateway_host, host());
  assert.equal(through.gateway, undefined, "no well-known gateway on this host");
  assert.equal(through.canonical_model, "gpt-4o-mini");
  assert.equal(direct.canonical_model, "gpt-4o-mini");
  assert.deepEqual(through.usage, NORMALISED);
  assert.deepEqual(direct.usage, NORMALISED);
  assert.equal(through.cost_usd, direct.cost_usd);
  // 1000×0.15 + 200×0.075 + 300×0.60 per 1M
  assert.equal(through.cost_usd, "0.000345");
  assert.deepEqual(internalErrors, []);
});

test("a routing-prefixed Claude model through a gateway is priced and recorded as Anthropic", async () => {
  const usage = { prompt_tokens: 2000, completion_tokens: 100, total_tokens: 2100 };
  reply = (_body, res) => json(res, 200, completion("anthropic/claude-sonnet-4-5", usage));
  await client().chat.completions.create({ model: "anthropic/claude-sonnet-4-5", messages: [] });
  const [event] = await events(1);
  const direct = quote({ provider: "anthropic", model: "claude-sonnet-4-5", usage: { input_tokens: 2000, output_tokens: 100 } });
  assert.deepEqual(
    [event?.provider, event?.model, event?.canonical_model],
    ["anthropic", "anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"],
  );
  assert.equal(event?.cost_usd, direct.costUsd);
  assert.equal(event?.cost_usd, "0.0075");
});

test("LiteLLM's cost header is kept beside our cost", async () => {
  reply = (body, res) => json(res, 200, completion(String(body.model)), { "x-litellm-response-cost": "1.2e-05" });
  await client().chat.completions.create({ model: "gpt-4o-mini", messages: [] });
  const [event] = await events(1);
  assert.equal(event?.gateway, "litellm");
  assert.equal(event?.provider_cost_usd, "0.000012");
  assert.equal(event?.cost_usd, "0.000345", "ours is the table's, kept apart");
});

test("a gateway named by a response header; no cost header, no gateway cost", async () => {
  reply = (body, res) => json(res, 200, completion(String(body.model)), { "x-portkey-trace-id": "t-1" });
  await client().chat.completions.create({ model: "gpt-4o-mini", messages: [] });
  const [event] = await events(1);
  assert.equal(event?.gateway, "portkey");
  assert.equal(event?.provider_cost_usd, undefined);
});

test("an unknown model through a gateway stays unpriced under the gateway provider", async () => {
  await client().chat.completions.create({ model: "llama-3-70b-inhouse", messages: [] });
  const [event] = await events(1);
  assert.deepEqual([event?.provider, event?.cost_usd, event?.canonical_model], ["openai_compatible", "0", "llama-3-70b-inhouse"]);
});

test("a gateway stream gets include_usage, the usage chunk stays hidden; a stream's cost header is not read", async () => {
  reply = async (body, res) => {
    res.setHeader("x-litellm-response-cost", "0.5"); // sent before the gateway could know it
    await plain(body, res);
  };
  const seen = await drain(await client().chat.completions.create({ model: "gpt-4o", messages: [], stream: true }));
  assert.deepEqual(srv.provider.requests[0]?.body?.stream_options, { include_usage: true });
  assert.equal(seen.length, 3, "the injected usage chunk is not the caller's");
  const [event] = await events(1);
  assert.deepEqual(event?.usage, NORMALISED);
  assert.equal(event?.gateway, "litellm");
  assert.equal(event?.provider_cost_usd, undefined);
  assert.equal(event?.cost_usd, quote({ provider: "openai", model: "gpt-4o", usage: NORMALISED }).costUsd);
  assert.notEqual(event?.cost_usd, "0");
});

test("a refused stream_options is retried once without it, and the host is remembered", async () => {
  reply = refusing;
  const c = client();
  const first = (await drain(
    await c.chat.completions.create({ model: "gpt-4o", messages: [], stream: true }),
  )) as OpenAI.ChatCompletionChunk[];
  assert.deepEqual(
    first.map((ch) => ch.choices[0]?.delta.content),
    ["", "Hel", "lo"],
  );
  assert.deepEqual(
    srv.provider.requests.map((r) => "stream_options" in (r.body ?? {})),
    [true, false],
  );
  const second = await drain(await c.chat.completions.create({ model: "gpt-4o", messages: [], stream: true }));
  assert.equal(second.length, 3);
  assert.equal(srv.provider.requests.length, 3, "learned: no refused attempt again");
  assert.equal("stream_options" in (srv.provider.requests[2]?.body ?? {}), false);
  const evs = await events(2);
  for (const e of evs) {
    assert.equal(e.status, "ok");
    assert.equal(e.streaming, true);
  }
  assert.deepEqual(internalErrors, []);
});

test("a retried call's withResponse() gives the second attempt's response", async () => {
  reply = refusing;
  const { data, response } = await client().chat.completions.create({ model: "gpt-4o", messages: [], stream: true }).withResponse();
  assert.equal(response.status, 200);
  assert.equal((await drain(data)).length, 3);
  assert.equal(srv.provider.requests.length, 2);
  const [event] = await events(1);
  assert.equal(event?.status, "ok");
});

test("other bad requests reach the caller untouched, never retried", async () => {
  reply = (_body, res) => json(res, 400, { error: { message: "messages: field required" } });
  const error = await client()
    .chat.completions.create({ model: "gpt-4o", messages: [], stream: true })
    .catch((e: unknown) => e);
  assert.ok(error instanceof OpenAI.BadRequestError);
  assert.equal(srv.provider.requests.length, 1);
  const [event] = await events(1);
  assert.deepEqual([event?.status, event?.error_type], ["error", "BadRequestError:400"]);
});

test("a caller's own stream_options is never retried away", async () => {
  reply = refusing;
  const error = await client()
    .chat.completions.create({ model: "gpt-4o", messages: [], stream: true, stream_options: { include_usage: true } })
    .catch((e: unknown) => e);
  assert.ok(error instanceof OpenAI.BadRequestError);
  assert.equal(srv.provider.requests.length, 1);
});

test("include_usage turned off for a host", async () => {
  const c = client({ includeUsageHosts: { [host()]: false } });
  assert.equal((await drain(await c.chat.completions.create({ model: "gpt-4o", messages: [], stream: true }))).length, 3);
  assert.equal("stream_options" in (srv.provider.requests[0]?.body ?? {}), false);
  const [event] = await events(1);
  assert.deepEqual(event?.usage, {});
});

test("includeUsageHosts must be booleans", () => {
  assert.throws(() => configure({ includeUsageHosts: { "gw.internal": "no" as unknown as boolean } }), ConfigError);
  assert.throws(() => configure({ includeUsageHosts: { "gw.internal": "no" as unknown as boolean } }), /includeUsageHosts/);
});

test("only a refusal naming the parameter counts; gateways by host and header (shared providers.json)", () => {
  assert.ok(rejectsStreamOptions(400, "stream_options is not supported"));
  assert.ok(rejectsStreamOptions(422, "include_usage: extra inputs are not permitted"));
  assert.ok(!rejectsStreamOptions(500, "stream_options"));
  assert.ok(!rejectsStreamOptions(400, "bad messages"));
  assert.equal(gatewayForHost("api.portkey.ai"), "portkey");
  assert.equal(gatewayForHost("eu.api.portkey.ai"), "portkey");
  assert.equal(gatewayForHost("gateway.ai.cloudflare.com"), "cloudflare");
  assert.equal(gatewayForHost("llm.internal"), null);
  const headers = new Headers({ "x-litellm-response-cost": "0.00123", "x-litellm-call-id": "c" });
  assert.deepEqual(gatewayFromHeaders(headers, false), ["litellm", { c: 123n, s: 5 }]);
  assert.deepEqual(gatewayFromHeaders(headers, true), ["litellm", null]);
  assert.deepEqual(gatewayFromHeaders(new Headers({ "cf-aig-cache-status": "MISS" }), false), ["cloudflare", null]);
});

test("record() through a gateway and across clouds ends like a direct call, one canonical model", async () => {
  setup(srv.ingest.url);
  const usage = { input_tokens: 2000, output_tokens: 100 };
  record({ provider: "openai_compatible", model: "claude-sonnet-4-5", usage });
  record({ provider: "anthropic", model: "claude-sonnet-4-5-20250929", usage });
  record({ provider: "bedrock", model: "global.anthropic.claude-sonnet-4-5-20250929-v1:0" });
  const byModel = Object.fromEntries((await events(3)).map((e) => [String(e.model), e]));
  const gateway = byModel["claude-sonnet-4-5"];
  const direct = byModel["claude-sonnet-4-5-20250929"];
  assert.deepEqual([gateway?.provider, direct?.provider], ["anthropic", "anthropic"]);
  assert.deepEqual([gateway?.cost_usd, direct?.cost_usd], ["0.0075", "0.0075"]);
  assert.equal(byModel["global.anthropic.claude-sonnet-4-5-20250929-v1:0"]?.provider, "bedrock");
  assert.deepEqual(new Set(Object.values(byModel).map((e) => e.canonical_model)), new Set(["claude-sonnet-4-5"]));
});

test("chat.completions.stream() through a gateway refusing stream_options finishes with the second attempt", async () => {
  reply = refusing;
  const final = await client().chat.completions.stream({ model: "gpt-4o", messages: [] }).finalChatCompletion();
  assert.equal(final.choices[0]?.message.content, "Hello");
  assert.equal(srv.provider.requests.length, 2);
  const [event] = await events(1);
  assert.deepEqual([event?.status, event?.streaming, event?.gateway_host], ["ok", true, host()]);
});
