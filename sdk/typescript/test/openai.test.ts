import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { Call } from "../src/event.js";
import { quote, requestContext, stats, wrap } from "../src/index.node.js";
import { internalErrors, json, servers, sse } from "./helpers.js";

const USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 200, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 50, audio_tokens: 0 },
};

function completion(model = "gpt-4o-2024-08-06") {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model,
    service_tier: "default",
    choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    usage: USAGE,
  };
}

function chunks(withUsage: boolean) {
  const base = { id: "chatcmpl-2", object: "chat.completion.chunk", created: 1, model: "gpt-4o-2024-08-06" };
  const out: Array<{ data: unknown }> = [
    { data: { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" } }], usage: null } },
    { data: { ...base, choices: [{ index: 0, delta: { content: "Hel" } }], usage: null } },
    { data: { ...base, choices: [{ index: 0, delta: { content: "lo" } }], usage: null } },
    { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: null } },
  ];
  if (withUsage) out.push({ data: { ...base, choices: [], usage: USAGE } });
  return out;
}

let cut: number | undefined;
let client: OpenAI;

const srv = servers(
  {
    "POST /v1/chat/completions": async (_req, raw, res) => {
      const body = JSON.parse(raw.toString());
      if (body.model === "rate-limited") {
        json(res, 429, { error: { message: "slow down", type: "rate_limit", code: "rate_limit" } }, { "x-request-id": "req-429" });
        return;
      }
      if (!body.stream) return json(res, 200, completion());
      const include = body.stream_options?.include_usage === true;
      await sse(res, chunks(include), { done: true, cutAfter: cut });
    },
    "POST /v1/responses": async (_req, raw, res) => {
      const body = JSON.parse(raw.toString());
      const response = {
        id: "resp_1",
        object: "response",
        created_at: 1,
        model: "gpt-4o-2024-08-06",
        status: "completed",
        output: [],
        service_tier: "flex",
        usage: {
          input_tokens: 1000,
          input_tokens_details: { cached_tokens: 400 },
          output_tokens: 200,
          output_tokens_details: { reasoning_tokens: 20 },
          total_tokens: 1200,
        },
      };
      if (!body.stream) return json(res, 200, response);
      await sse(res, [
        {
          event: "response.created",
          data: { type: "response.created", sequence_number: 0, response: { ...response, status: "in_progress", usage: null } },
        },
        {
          event: "response.output_text.delta",
          data: { type: "response.output_text.delta", sequence_number: 1, item_id: "m", output_index: 0, content_index: 0, delta: "hi" },
        },
        { event: "response.completed", data: { type: "response.completed", sequence_number: 2, response } },
      ]);
    },
    "POST /v1/embeddings": (_req, _raw, res) =>
      json(res, 200, {
        object: "list",
        model: "text-embedding-3-small",
        data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }],
        usage: { prompt_tokens: 42, total_tokens: 42 },
      }),
  },
  {
    settings: (port) => ({ providerHosts: { [`127.0.0.1:${port}`]: "openai" } }),
    ready: (url) => {
      client = wrap(new OpenAI({ apiKey: "sk-test", baseURL: `${url}/v1`, maxRetries: 0 }), {
        team: "payments",
        environment: "prod",
      });
    },
    reset: () => {
      cut = undefined;
    },
  },
);
const events = srv.events;

test("the docs' example: layered metadata, exact usage and cost, costobs removed, snake_case", async () => {
  await requestContext({ customer_id: "cust-42" }, async () => {
    await client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
      costobs: { feature: "summarize", promptVersion: "v3" },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  });
  const [event] = await events(1);
  assert.ok(event);
  assert.equal(srv.provider.requests[0]?.body?.costobs, undefined, "the provider never sees costobs");
  assert.equal(event.provider, "openai");
  assert.equal(event.model, "gpt-4o-2024-08-06");
  assert.equal(event.team, "payments");
  assert.equal(event.environment, "prod");
  assert.equal(event.customer_id, "cust-42");
  assert.equal(event.feature, "summarize");
  assert.equal(event.prompt_version, "v3");
  assert.equal(event.promptVersion, undefined);
  assert.deepEqual(event.usage, { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300, reasoning_tokens: 50 });
  const expected = quote({ provider: "openai", model: "gpt-4o-2024-08-06", usage: event.usage, at: Date.parse(String(event.timestamp)) });
  assert.equal(event.cost_usd, expected.costUsd);
  assert.equal(event.cost_usd, "0.00575"); // 1000×2.50 + 200×1.25 + 300×10 per 1M
  assert.equal(event.sdk_language, "typescript");
  assert.equal(event.provider_request_id, "chatcmpl-1");
  assert.equal(event.status, "ok");
  assert.deepEqual(internalErrors, []);
});

test("both casings of the first-class fields, tags from other keys", async () => {
  await requestContext({ customerId: "c-1", user_id: "u-1", tags: { pr: "1234" } }, () =>
    client.chat.completions.create({
      model: "gpt-4o",
      messages: [],
      costobs: { prompt_version: "v9", promptKey: "summ", experiment: "b" },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming),
  );
  const [event] = await events(1);
  assert.equal(event?.customer_id, "c-1");
  assert.equal(event?.user_id, "u-1");
  assert.equal(event?.prompt_version, "v9");
  assert.equal(event?.prompt_key, "summ");
  assert.deepEqual(event?.tags, { pr: "1234", experiment: "b" });
});

test("stream: include_usage injected, the usage-only chunk hidden from the caller", async () => {
  const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [], stream: true });
  const seen: unknown[] = [];
  for await (const chunk of stream) seen.push(chunk);
  assert.equal(seen.length, 4, "the caller sees exactly the chunks it asked for");
  assert.ok(seen.every((c) => (c as { choices: unknown[] }).choices.length > 0));
  assert.deepEqual(srv.provider.requests[0]?.body?.stream_options, { include_usage: true });
  const [event] = await events(1);
  assert.equal(event?.streaming, true);
  assert.deepEqual(event?.usage, { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300, reasoning_tokens: 50 });
  assert.equal(typeof event?.time_to_first_token_ms, "number");
});

test("stream: a caller that asked for include_usage keeps its usage chunk", async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [],
    stream: true,
    stream_options: { include_usage: true },
  });
  let last: unknown;
  for await (const chunk of stream) last = chunk;
  assert.deepEqual((last as { usage: unknown }).usage, USAGE);
  const [event] = await events(1);
  assert.equal(event?.usage.output_tokens, 300);
});

test("stream cut off midway: the caller gets the error, the event says error", async () => {
  cut = 2;
  const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [], stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream) {
      // consume
    }
  });
  const [event] = await events(1);
  assert.equal(event?.status, "error");
  assert.equal(event?.streaming, true);
  assert.deepEqual(event?.usage, {});
});

test("stream left early (break): one cancelled event", async () => {
  const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [], stream: true });
  for await (const _ of stream) break;
  const [event] = await events(1);
  assert.equal(event?.status, "cancelled");
  assert.equal(srv.ingest.events().length, 1);
});

test("provider errors reach the caller unchanged", async () => {
  const error = await client.chat.completions.create({ model: "rate-limited", messages: [] }).catch((e: unknown) => e);
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.equal((error as InstanceType<typeof OpenAI.APIError>).status, 429);
  assert.equal((error as InstanceType<typeof OpenAI.APIError>).requestID, "req-429");
  const [event] = await events(1);
  assert.equal(event?.status, "error");
  assert.equal(event?.error_type, "RateLimitError:429");
  assert.equal(event?.model, "rate-limited");
});

test("SDK errors never reach the caller", async () => {
  const original = Call.prototype.stopClock;
  Call.prototype.stopClock = () => {
    throw new Error("boom inside the SDK");
  };
  try {
    const result = await client.chat.completions.create({ model: "gpt-4o", messages: [] });
    assert.equal(result.id, "chatcmpl-1");
  } finally {
    Call.prototype.stopClock = original;
  }
  assert.ok(internalErrors.some((e) => String(e).includes("boom inside the SDK")));
  assert.ok(stats().internalErrors >= 1);
});

test("withResponse() and .parse() are observed once, the caller gets the same data", async () => {
  const { data, response } = await client.chat.completions.create({ model: "gpt-4o", messages: [] }).withResponse();
  assert.equal(data.id, "chatcmpl-1");
  assert.equal(response.status, 200);
  await events(1);
  assert.equal(srv.ingest.events().length, 1);
});

test("responses: plain and streamed, usage exact, service tier from the response", async () => {
  await client.responses.create({ model: "gpt-4o", input: "hi" });
  const stream = await client.responses.create({ model: "gpt-4o", input: "hi", stream: true });
  for await (const _ of stream) {
    // consume
  }
  const evs = await events(2);
  for (const event of evs) {
    assert.equal(event.operation, "responses");
    assert.equal(event.service_tier, "flex");
    assert.deepEqual(event.usage, { input_tokens: 600, cached_input_tokens: 400, output_tokens: 200, reasoning_tokens: 20 });
  }
  assert.deepEqual(evs.map((e) => e.streaming).sort(), [false, true]);
});

test("embeddings", async () => {
  await client.embeddings.create({ model: "text-embedding-3-small", input: "x" });
  const [event] = await events(1);
  assert.equal(event?.operation, "embedding");
  assert.deepEqual(event?.usage, { input_tokens: 42 });
});

test("100 overlapping requestContext scopes keep their own metadata", async () => {
  await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      requestContext({ customer_id: `cust-${i}`, trace_id: `t-${i}` }, async () => {
        await new Promise((r) => setTimeout(r, (i * 7) % 13));
        await client.chat.completions.create({
          model: "gpt-4o",
          messages: [],
          costobs: { feature: `f-${i}` },
        } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      }),
    ),
  );
  const evs = await events(100);
  assert.equal(evs.length, 100);
  for (const e of evs) {
    const i = String(e.customer_id).slice(5);
    assert.equal(e.trace_id, `t-${i}`);
    assert.equal(e.feature, `f-${i}`);
  }
});

test("wrapping twice observes once and merges the new defaults", async () => {
  wrap(client, { service: "api" });
  await client.chat.completions.create({ model: "gpt-4o", messages: [] });
  const evs = await events(1);
  assert.equal(evs.length, 1);
  assert.equal(evs[0]?.service, "api");
  assert.equal(evs[0]?.team, "payments");
});

test("chat.completions.stream() and withOptions() copies are observed", async () => {
  const runner = client.chat.completions.stream({ model: "gpt-4o", messages: [] });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0]?.message.content, "Hello");
  const copy = client.withOptions({ timeout: 5000 });
  await copy.chat.completions.create({ model: "gpt-4o", messages: [] });
  const evs = await events(2);
  assert.deepEqual(evs.map((e) => e.streaming).sort(), [false, true]);
  for (const e of evs) assert.equal(e.team, "payments");
  assert.equal(evs.find((e) => e.streaming)?.usage.output_tokens, 300);
});
